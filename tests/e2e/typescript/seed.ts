// The seed's client calls, typed with what openapi-typescript generates from the served
// OpenAPI document (./api.d.ts, written by tests/e2e/test_typescript_types.py). Compiled
// with `tsc --noEmit`: a body, an enum or an error the document gets wrong stops it.
import type { components, paths } from "./api";

type Schemas = components["schemas"];
type CreateBody = paths["/api/generations/create"]["post"]["requestBody"]["content"]["application/json"];
type Created = paths["/api/generations/create"]["post"]["responses"][201]["content"]["application/json"];
type NoCredits = paths["/api/generations/create"]["post"]["responses"][402]["content"]["application/problem+json"];
type Missing = paths["/api/generations/{generation_id}"]["get"]["responses"][404]["content"]["application/problem+json"];
type Output = paths["/outputs/{key}"]["get"]["responses"][200]["content"];
type ListQuery = NonNullable<paths["/api/generations/list"]["get"]["parameters"]["query"]>;
type Telegram = paths["/api/auth/telegram"]["post"];

const BASE = "http://127.0.0.1:8000";
const TOKEN = "<the demo's TOKEN>";

async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const response = await fetch(`${BASE}${path}`, {
    ...init,
    headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
  });
  if (!response.ok) {
    const problem = (await response.json()) as Schemas["Problem"];
    throw new Error(`${problem.status} ${problem.title}: ${problem.detail}`);
  }
  return (await response.json()) as T;
}

export async function seedFlow(image: string): Promise<string[]> {
  const { models } = await api<Schemas["ModelList"]>("/api/models/list");
  const actions: Schemas["Action"][] = models.map((model) => model.action);
  const prices: number[] = models.map((model) => model.price ?? 0);

  const bodies: CreateBody[] = [
    { action: "create", model_id: "flux-schnell", prompt: "A beautiful sunset over mountains",
      settings: { aspect_ratio: "16:9", num_outputs: 1 } },
    { action: "edit", model_id: "nano-banana-edit", prompt: "Make it a watercolor painting", input_image_url: image },
    { action: "upscale", model_id: "real-esrgan", input_image_url: image, settings: { scale: 4 } },
    { action: "remove_bg", model_id: "birefnet", input_image_url: image },
  ];
  const urls: string[] = [];
  for (const body of bodies) {
    const created: Created = await api<Created>("/api/generations/create", { method: "POST", body: JSON.stringify(body) });
    let generation = await api<Schemas["GenerationOut"]>(`/api/generations/${created.id}`);
    while (generation.status === "pending" || generation.status === "processing") {
      generation = await api<Schemas["GenerationOut"]>(`/api/generations/${created.id}`);
    }
    urls.push(...(generation.output_urls ?? []));
  }
  const query: ListQuery = { page: 1, limit: 20, action: "edit", status: "completed" };
  const page = await api<Schemas["GenerationList"]>(`/api/generations/list?action=${query.action}&status=${query.status}`);
  const pages: number = page.totalPages;
  const deleted: Schemas["Deleted"] = await api(`/api/generations/${page.generations[0]?.id}`, { method: "DELETE" });

  const poor: NoCredits = { type: "https://httpstatuses.io/402", title: "Payment Required", status: 402,
                            detail: "insufficient credits", needed: 4, available: 0 };
  const gone: Missing = { type: "https://httpstatuses.io/404", title: "Not Found", status: 404, detail: "no such generation" };
  const image_bytes: Output["image/png"] = "";
  const signIn: Telegram["requestBody"]["content"]["application/json"] = { initData: "user=...&hash=..." };
  const signedIn: Telegram["responses"][200]["content"]["application/json"]["session_token"] = "";
  void [actions, prices, pages, deleted, poor, gone, image_bytes, signIn, signedIn];
  return urls;
}

// What the document must refuse, checked by the compiler.
// @ts-expect-error "paint" is no action
export const notAnAction: CreateBody = { action: "paint", model_id: "flux-schnell" };
// @ts-expect-error a generation's status is one of its five states
export const notAStatus: Schemas["GenerationOut"]["status"] = "done";
// @ts-expect-error DELETE takes no Idempotency-Key, so it documents no 409
export type NoConflictOnDelete = paths["/api/generations/{generation_id}"]["delete"]["responses"][409];
