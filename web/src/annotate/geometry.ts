// Pixel ↔ stored-point conversion, the same formulas as the server (datamint.imaging.pixels) and
// the SDK (annotation_geometry.ResourceGeometry): pixel (x, y) of slice k of a plane lies at
//   origin_k + x · columnSpacing · rowCosines + y · rowSpacing · columnCosines
// with x the column and y the row, 0 at the centre of the top-left pixel. For images and videos
// that space is pixels with z = frame, as the SDK stores them.
import type { PlaneGeometry } from "../viewer/loader";

export type Vec3 = [number, number, number];

const dot = (a: number[], b: number[]) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];

export function toWorld(plane: PlaneGeometry, index: number, x: number, y: number): Vec3 {
  const [rowSpacing, colSpacing] = plane.spacing;
  const o = plane.origins[index];
  const r = plane.row_cosines;
  const c = plane.column_cosines;
  return [0, 1, 2].map((i) => o[i] + x * colSpacing * r[i] + y * rowSpacing * c[i]) as Vec3;
}

export function toPixel(plane: PlaneGeometry, index: number, world: number[]): [number, number] {
  const [rowSpacing, colSpacing] = plane.spacing;
  const o = plane.origins[index];
  const d = [world[0] - o[0], world[1] - o[1], world[2] - o[2]];
  return [dot(d, plane.row_cosines) / colSpacing, dot(d, plane.column_cosines) / rowSpacing];
}

/** The slice of a plane nearest to a world point (by distance along the slice normal). */
export function nearestSlice(plane: PlaneGeometry, world: number[]): number {
  const n = normal(plane);
  const t = dot(world, n);
  let best = 0;
  let bestDistance = Infinity;
  plane.origins.forEach((o, k) => {
    const distance = Math.abs(dot(o, n) - t);
    if (distance < bestDistance) { best = k; bestDistance = distance; }
  });
  return best;
}

export function normal(plane: PlaneGeometry): Vec3 {
  const [a, b, c] = plane.row_cosines;
  const [d, e, f] = plane.column_cosines;
  const n: Vec3 = [b * f - c * e, c * d - a * f, a * e - b * d];
  const len = Math.hypot(...n) || 1;
  return n.map((v) => v / len) as Vec3;
}

/** Snap a world point to the centre of the pixel under it; the snapped pixel and world point. */
export function snap(plane: PlaneGeometry, index: number, world: number[]): { pixel: [number, number]; world: Vec3 } {
  const [x, y] = toPixel(plane, index, world);
  const clamp = (v: number, n: number) => Math.min(Math.max(Math.round(v), 0), n - 1);
  const pixel: [number, number] = [clamp(x, plane.columns), clamp(y, plane.rows)];
  return { pixel, world: toWorld(plane, index, pixel[0], pixel[1]) };
}
