// Runs the npm `replicate` client against the simulator at SIM_URL; prints what it saw as JSON.
import Replicate from "replicate";

const replicate = new Replicate({ auth: process.env.SIM_TOKEN, baseUrl: `${process.env.SIM_URL}/v1` });
const image = process.env.SIM_IMAGE;
const ESRGAN = "nightmareai/real-esrgan:f121d640bd286e1fdc67f9799164c1d5be36ff74576ee11c803ae5b665dd46aa";
const BIREFNET = "f74986db0355b58403ed20963af156525e2891ea3c2d499bfbfb2a28cd87c5d7";

const flux = await replicate.run("black-forest-labs/flux-schnell", { input: { prompt: "a red fox" } });
const esrgan = await replicate.run(ESRGAN, { input: { image, scale: 2 } });
const created = await replicate.predictions.create({ version: BIREFNET, input: { image } });
let fetched = await replicate.predictions.get(created.id);
while (!["succeeded", "failed", "canceled"].includes(fetched.status)) {
  await new Promise((resolve) => setTimeout(resolve, 50));
  fetched = await replicate.predictions.get(created.id);
}
console.log(JSON.stringify({ flux: flux.map(String), esrgan: String(esrgan), created, fetched }));
