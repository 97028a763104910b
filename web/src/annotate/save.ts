// Saving the annotation layer through the public API (wire protocol §7 and §8).
import { request } from "../api";
import type { AnnotationController, Spec } from "./controller";

/** Classification answers: `${identifier}` (image scope) or `${identifier}@${frame}` (frame scope) → value. */
export type Answers = Record<string, string | boolean>;

export interface SavedState {
  classifications: Map<string, { id: string; value: string | boolean }>;
  maskSignatures: Map<string, number>;
}

export const VALUE_TYPES = new Set(["category", "label", "text", "integer", "float"]);

export function answerKey(spec: Spec, frame: number | null): string {
  return spec.scope === "frame" ? `${spec.identifier}@${frame}` : spec.identifier;
}

function hash(data: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) { h ^= data[i]; h = Math.imul(h, 0x01000193); }
  return h >>> 0;
}

async function png(mask: Uint8Array, width: number, height: number): Promise<Blob> {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d")!;
  const image = context.createImageData(width, height);
  for (let p = 0; p < mask.length; p++) {
    const v = mask[p] ? 255 : 0;
    image.data[p * 4] = v; image.data[p * 4 + 1] = v; image.data[p * 4 + 2] = v; image.data[p * 4 + 3] = 255;
  }
  context.putImageData(image, 0, 0);
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("PNG encoding failed"))),
    "image/png"));
}

function classificationItem(spec: Spec, frame: number | null, value: string | boolean, worklistId: string) {
  const item: Record<string, unknown> = {
    type: spec.type, identifier: spec.identifier, scope: spec.scope === "frame" ? "frame" : "image",
    annotation_worklist_id: worklistId, source: "manual",
  };
  if (spec.scope === "frame") item.frame_index = frame;
  if (spec.type === "integer") item.value = parseInt(String(value), 10);
  else if (spec.type === "float") item.value = parseFloat(String(value));
  else if (spec.type !== "label") item.value = value;
  return item;
}

/** Save everything that changed since the last save; returns a short summary for the user. */
export async function saveAll(controller: AnnotationController, specs: Spec[], answers: Answers,
  saved: SavedState): Promise<string> {
  const rid = controller.resourceId;
  const wid = controller.worklistId;
  // 1. geometric annotations: create the new or changed ones, then delete the replaced or removed ones
  const { create, remove } = controller.geometricChanges();
  const created = create.length ? await request<string[]>(`/annotations/${rid}/annotations`, { json: create }) : [];
  for (const id of remove) await request(`/annotations/${id}`, { method: "DELETE" });
  controller.markSaved(created);

  // 2. classifications
  const bySpec = new Map(specs.filter((s) => VALUE_TYPES.has(s.type)).map((s) => [s.identifier, s]));
  const wanted = new Map<string, { spec: Spec; frame: number | null; value: string | boolean }>();
  for (const [key, value] of Object.entries(answers)) {
    const [identifier, frameText] = key.split("@");
    const spec = bySpec.get(identifier);
    if (!spec || value === "" || value === false) continue;
    wanted.set(key, { spec, frame: frameText === undefined ? null : Number(frameText), value });
  }
  const newItems: { key: string; item: Record<string, unknown>; value: string | boolean }[] = [];
  for (const [key, w] of wanted) {
    const before = saved.classifications.get(key);
    if (before && before.value === w.value) continue;
    newItems.push({ key, item: classificationItem(w.spec, w.frame, w.value, wid), value: w.value });
  }
  const obsolete = [...saved.classifications.entries()]
    .filter(([key, b]) => !wanted.has(key) || wanted.get(key)!.value !== b.value).map(([key, b]) => ({ key, id: b.id }));
  if (newItems.length) {
    const ids = await request<string[]>(`/annotations/${rid}/annotations`, { json: newItems.map((n) => n.item) });
    for (const { key, id } of obsolete) { await request(`/annotations/${id}`, { method: "DELETE" }); saved.classifications.delete(key); }
    newItems.forEach((n, i) => saved.classifications.set(n.key, { id: ids[i], value: n.value }));
  } else {
    for (const { key, id } of obsolete) { await request(`/annotations/${id}`, { method: "DELETE" }); saved.classifications.delete(key); }
  }

  // 3. masks: one PNG per (label, axial frame), in one request; masks erased entirely are deleted
  const axial = controller.geometry.planes.axial;
  const masks = controller.masks();
  const payload: Record<string, unknown>[] = [];
  const form = new FormData();
  const changed: { identifier: string; frame: number; signature: number }[] = [];
  for (const m of masks.values()) {
    const signature = hash(m.data);
    const key = `${m.identifier}/${m.frame}`;
    if (saved.maskSignatures.get(key) === signature) continue;
    const id = controller.maskId(m.identifier, m.frame);
    payload.push({ ...(id ? { id } : {}), identifier: m.identifier, frame_index: m.frame,
      width: axial!.columns, height: axial!.rows });
    form.append("images", await png(m.data, axial!.columns, axial!.rows), `${m.identifier}.png`);
    changed.push({ identifier: m.identifier, frame: m.frame, signature });
  }
  if (payload.length) {
    form.append("payload", JSON.stringify(payload));
    const answer = await request<{ ids: string[] }>(`/annotationsets/${wid}/resources/${rid}/segmentations`,
      { body: form });
    changed.forEach((c, i) => {
      controller.setMaskId(c.identifier, c.frame, answer.ids[i]);
      saved.maskSignatures.set(`${c.identifier}/${c.frame}`, c.signature);
    });
  }
  for (const [key, id] of controller.knownMasks()) {
    if (masks.has(key)) continue;
    await request(`/annotations/${id}`, { method: "DELETE" });
    const [identifier, frame] = key.split("/");
    controller.forgetMask(identifier, Number(frame));
    saved.maskSignatures.delete(key);
  }
  const total = create.length + remove.length + newItems.length + obsolete.length + payload.length;
  return total ? "Saved" : "Nothing to save";
}
