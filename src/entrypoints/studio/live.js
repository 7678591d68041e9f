// Live status of generations: Server-Sent Events read with fetch streaming
// (GET /api/generations/events, the bearer token in a header — EventSource cannot send
// one), and polling GET /api/generations/{id} for the running ones whenever the stream
// is not connected (the server has no such endpoint, or it dropped).
//
// The stream's events come in order (the server sends a generation only when its version
// grew), but a read (a poll, a catch-up, the gallery's page, the create form's) can be
// answered after newer news of the same generation arrived: each read notes the tick it
// was asked at, and what it brings is dropped if that generation was heard of since.
import { isTerminal } from "./dom.js";

const POLL_MS = 1500;

export class Live {
  constructor(api, enabled, onChange) {
    this.api = api;
    this.streamable = Boolean(enabled);
    this.onChange = onChange;
    this.running = new Set();
    this.streaming = false;
    this.stopped = false;
    this.controller = null;
    this.tick = 0;
    this.heard = new Map();  // generation id → the tick of its last delivery
  }

  // The tick to note before a read: pass it to deliver() or heardSince() with the answer.
  now() {
    return this.tick;
  }

  heardSince(id, tick) {
    return (this.heard.get(id) || 0) > tick;
  }

  start() {
    if (this.streamable) this.stream();
    this.timer = setInterval(() => this.poll(), POLL_MS);
  }

  stop() {
    this.stopped = true;
    clearInterval(this.timer);
    if (this.controller) this.controller.abort();
  }

  watch(generation) {
    if (!isTerminal(generation.status)) this.running.add(generation.id);
    else this.running.delete(generation.id);
  }

  forget(id) {
    this.running.delete(id);
  }

  async poll() {
    if (this.streaming || this.polling) return;
    this.polling = true;
    try {
      for (const id of [...this.running]) {
        try {
          const asked = this.now();
          const generation = await this.api.get(`/api/generations/${encodeURIComponent(id)}`, { quiet: [404] });
          this.deliver(generation, asked);
        } catch (error) {
          if (error.status === 404) this.running.delete(id);
        }
      }
    } finally {
      this.polling = false;
    }
  }

  // What the stream sends is delivered as it comes (`asked` null); a read's answer only if
  // nothing newer about the generation was delivered since it was asked.
  deliver(generation, asked = null) {
    if (!generation || !generation.id) return;
    if (asked !== null && this.heardSince(generation.id, asked)) return;
    this.heard.set(generation.id, ++this.tick);
    this.watch(generation);
    this.onChange(generation);
  }

  async stream() {
    let delay = 1000;
    while (!this.stopped && this.streamable) {
      this.controller = new AbortController();
      try {
        const response = await fetch("/api/generations/events", {
          headers: this.api.headers({ Accept: "text/event-stream" }),
          signal: this.controller.signal,
          cache: "no-store",
        });
        if (response.status === 404 || response.status === 405) {
          this.streamable = false;  // not on this server: polling it is
          return;
        }
        if (!response.ok || !response.body) throw new Error(`events: HTTP ${response.status}`);
        this.streaming = true;
        delay = 1000;
        this.catchUp();
        await this.read(response.body);
      } catch {
        // dropped or refused: poll until the stream is back
      }
      this.streaming = false;
      if (this.stopped) return;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 30000);
    }
  }

  // What changed while no stream was open is read once when one opens.
  catchUp() {
    const asked = this.now();
    for (const id of [...this.running]) {
      this.api.get(`/api/generations/${encodeURIComponent(id)}`, { quiet: [404] })
        .then((g) => this.deliver(g, asked), (error) => { if (error.status === 404) this.running.delete(id); });
    }
  }

  async read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        this.event(block);
      }
    }
  }

  event(block) {
    let type = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") type = value;
      else if (field === "data") data.push(value);
    }
    if (!data.length || (type !== "generation" && type !== "message")) return;
    let payload;
    try {
      payload = JSON.parse(data.join("\n"));
    } catch {
      return;  // not JSON: ignored
    }
    if (payload && payload.id && payload.status && payload.action) this.deliver(payload);
    else if (payload && (payload.id || payload.generation_id)) {
      // Only the id of what changed: read the generation itself.
      const id = payload.id || payload.generation_id;
      const asked = this.now();
      this.api.get(`/api/generations/${encodeURIComponent(id)}`, { quiet: [404] })
        .then((g) => this.deliver(g, asked), () => this.running.delete(id));
    }
  }
}
