// The annotation layer over the viewer: one Cornerstone tool instance per label of the worklist,
// labelmaps (brush/eraser) for its segmentation labels, classifications, and the conversion of
// everything to and from the API's annotation JSON (wire protocol §7) and frame masks (§8).
import { cache, eventTarget, imageLoader, utilities as csUtilities, type Types } from "@cornerstonejs/core";
import {
  AngleTool, annotation as csAnnotation, BrushTool, CircleROITool, Enums as ToolEnums, LengthTool, ProbeTool,
  RectangleROITool, segmentation,
  SplineROITool, ToolGroupManager, utilities as toolUtilities,
} from "@cornerstonejs/tools";
import { imageId as makeImageId, imageIdsFor, parseImageId, type Plane, type SliceGeometry } from "../viewer/loader";
import type { ViewerHandle } from "../viewer/Viewer";
import { nearestSlice, normal, snap, toWorld, type Vec3 } from "./geometry";

export interface Spec {
  type: string;
  identifier: string;
  scope?: string;
  values?: string[];
  color?: number[];
  required?: boolean;
}

export interface SegmentLabel {
  identifier: string;
  color: number[];
  index: number;
}

/** An annotation as the API returns it (the fields the app reads). */
export interface WireAnnotation {
  id: string;
  type: string;
  identifier: string;
  scope: string;
  frame_index: number | null;
  value?: unknown;
  geometry?: { points?: number[][]; closed?: boolean } | null;
  created_by?: string;
  added_by?: string;
  source?: string;
  model_id?: string | null;
  file?: string | null;
  associated_file?: string | null;
  annotation_worklist_id?: string | null;
}

/** What the annotation types of the specs are drawn with, and how their points are read. A
 * polyline is a spline of straight segments left open (a double click ends it); `region` and `area`
 * are closed polygons (clicking the first point closes them). */
const LINEAR = { spline: { type: "LINEAR" } };
const TOOLS: Record<string, { parent: string; points: (a: any) => number[][]; config?: object; closed?: boolean }> = {
  square: { parent: RectangleROITool.toolName, points: (a) => a.data.handles.points },
  line: { parent: LengthTool.toolName, points: (a) => a.data.handles.points },
  distance: { parent: LengthTool.toolName, points: (a) => a.data.handles.points },
  point: { parent: ProbeTool.toolName, points: (a) => a.data.handles.points },
  angle: { parent: AngleTool.toolName, points: (a) => a.data.handles.points },
  circle: { parent: CircleROITool.toolName, points: (a) => a.data.handles.points }, // centre, a point of the rim
  region: { parent: SplineROITool.toolName, points: (a) => a.data.handles.points, config: LINEAR, closed: true },
  area: { parent: SplineROITool.toolName, points: (a) => a.data.handles.points, config: LINEAR, closed: true },
  spline: {
    parent: SplineROITool.toolName, points: (a) => a.data.handles.points,
    config: { ...LINEAR, allowOpenSplines: true }, closed: false,
  },
};

export const GEOMETRIC_TYPES = Object.keys(TOOLS);

/** Voxels of a volume above which only its axial plane gets a labelmap (three would take three
 * times this many bytes): 64 Mi, a 256-slice 512² CT. */
export const MPR_LABELMAP_VOXELS = 64 * 1024 * 1024;

/** The mask layers: mine (edited by the brush) and others' (other annotators' and models', read-only). */
export type Layer = "mine" | "others";
export const BRUSH = "dm-brush";
export const ERASER = "dm-eraser";

/** One geometric annotation of the viewer, in the SDK's pixel terms (for the panel and the tests). */
export interface Drawn {
  uid: string;
  identifier: string;
  type: string;
  plane: Plane;
  frame: number;
  pixels: [number, number][];
  mine: boolean;
  author: string;
  /** Polygons and polylines: whether the outline is closed. */
  closed?: boolean;
}

export class AnnotationController {
  readonly instances = new Map<string, Spec>(); // tool instance name → spec
  readonly labels: SegmentLabel[];
  private loaded = new Map<string, { id: string; signature: string }>(); // annotation UID → server id
  private others = new Set<string>(); // UIDs of other people's (read-only) annotations
  private authors = new Map<string, string>();
  private maskIds = new Map<string, string>(); // `${identifier}/${frame}` → server id of my mask
  private layers = new Set<Layer>();
  private whereIs = new Map<string, { plane: Plane; slice: number }>(); // my labelmap image id → its slice
  private syncing = false;
  private othersPainted = false;
  private reserved = 0; // bytes of labelmaps added to the cache's limit

  constructor(
    private viewer: ViewerHandle,
    readonly resourceId: string,
    readonly geometry: SliceGeometry,
    readonly worklistId: string,
    readonly specs: Spec[],
    segmentGroup: Record<string, { color: number[]; index: number }>,
    readonly me: string,
  ) {
    this.labels = Object.entries(segmentGroup)
      .map(([identifier, g]) => ({ identifier, color: g.color, index: g.index }))
      .sort((a, b) => a.index - b.index);
  }

  get planes(): Plane[] {
    return (["axial", "sagittal", "coronal"] as Plane[]).filter((p) => this.geometry.planes[p]);
  }

  private get toolGroup() {
    return ToolGroupManager.getToolGroup(this.viewer.toolGroupId)!;
  }

  segmentationId(plane: Plane, layer: Layer = "mine"): string {
    return `seg-${this.resourceId}-${layer}-${plane}`;
  }

  private labelmapIds(plane: Plane, layer: Layer = "mine"): string[] {
    return ([] as string[]).concat(segmentation.getLabelmapImageIds(this.segmentationId(plane, layer)) ?? []);
  }

  /** Create the tool instances and labelmaps. */
  async setUp(): Promise<void> {
    const group = this.toolGroup;
    this.specs.forEach((spec, i) => {
      const tool = TOOLS[spec.type];
      if (!tool) return;
      const name = `dm-${i}-${spec.type}`;
      group.addToolInstance(name, tool.parent, tool.config ?? {});
      group.setToolPassive(name);
      this.instances.set(name, spec);
    });
    if (!this.labels.length) return;
    group.addToolInstance(BRUSH, BrushTool.toolName, { activeStrategy: "FILL_INSIDE_CIRCLE" });
    group.addToolInstance(ERASER, BrushTool.toolName, { activeStrategy: "ERASE_INSIDE_CIRCLE" });
    await this.addLayer("mine");
    this.setActiveLabel(this.labels[0].index);
    toolUtilities.segmentation.setBrushSizeForToolGroup(this.viewer.toolGroupId, 8);
    eventTarget.addEventListener(ToolEnums.Events.SEGMENTATION_DATA_MODIFIED, this.onDataModified);
  }

  /** The item is closed: stop listening, drop the labelmaps and give their memory back. */
  dispose(): void {
    eventTarget.removeEventListener(ToolEnums.Events.SEGMENTATION_DATA_MODIFIED, this.onDataModified);
    for (const layer of this.layers) {
      for (const plane of this.paintPlanes) {
        const ids = this.labelmapIds(plane, layer);
        try { segmentation.removeSegmentation(this.segmentationId(plane, layer)); } catch { /* viewport gone */ }
        for (const id of ids) if (cache.getImage(id)) cache.removeImageLoadObject(id, { force: true });
      }
    }
    this.layers.clear();
    cache.setMaxCacheSize(cache.getMaxCacheSize() - this.reserved);
    this.reserved = 0;
  }

  /** The planes the brush works on (and masks show on): all of them, unless one labelmap per plane
   * would take too much of a tab's memory (above MPR_LABELMAP_VOXELS): then the axial plane only,
   * and the sagittal and coronal views are for looking. */
  get paintPlanes(): Plane[] {
    const axial = this.geometry.planes.axial;
    if (!axial || this.planes.length < 2) return this.planes;
    return axial.columns * axial.rows * axial.count > MPR_LABELMAP_VOXELS ? ["axial"] : this.planes;
  }

  /** One labelmap per plane for a layer: "mine" (the brush paints there) or "others" (read-only:
   * other annotators' and models' masks, created when there are some). */
  private async addLayer(layer: Layer): Promise<void> {
    for (const plane of this.paintPlanes) {
      const g = this.geometry.planes[plane]!;
      const bytes = g.count * g.rows * g.columns; // one byte per voxel; not part of the slices' budget
      cache.setMaxCacheSize(cache.getMaxCacheSize() + bytes);
      this.reserved += bytes;
      const images = imageLoader.createAndCacheDerivedLabelmapImages(imageIdsFor(this.resourceId, plane));
      const segmentationId = this.segmentationId(plane, layer);
      segmentation.addSegmentations([{
        segmentationId,
        representation: {
          type: ToolEnums.SegmentationRepresentations.Labelmap,
          data: { imageIds: images.map((im) => im.imageId) },
        },
      }]);
      await segmentation.addLabelmapRepresentationToViewport(plane, [{ segmentationId }]);
      for (const label of this.labels) {
        const [r, g, b] = label.color;
        segmentation.config.color.setSegmentIndexColor(plane, segmentationId, label.index,
          [r, g, b, layer === "mine" ? 255 : 160]);
      }
      if (layer === "mine") images.forEach((im, slice) => this.whereIs.set(im.imageId, { plane, slice }));
      // the brush paints in my labelmap of the plane it is used on
      segmentation.activeSegmentation.setActiveSegmentation(plane, this.segmentationId(plane, "mine"));
    }
    this.layers.add(layer);
  }

  // -- one mask, three planes ------------------------------------------------------------------
  // Each plane has its own stack of labelmap images; a stroke in one plane is copied voxel by voxel
  // into the other two at once (axial slice k: (x=i, y=j); sagittal slice i: (x=j, y=k); coronal
  // slice j: (x=i, y=k)), so it shows in every view while drawing.

  private onDataModified = (evt: Event): void => {
    if (this.syncing) return;
    const id = (evt as CustomEvent).detail?.segmentationId as string | undefined;
    const plane = this.paintPlanes.find((p) => this.segmentationId(p) === id);
    const index = plane ? this.viewer.viewport(plane)?.getCurrentImageIdIndex() : undefined;
    if (plane && index !== undefined) this.propagate("mine", plane, [index]);
  };

  /** Copy slices of one plane's labelmap into the other planes' labelmaps, then redraw them. */
  propagate(layer: Layer, from: Plane, slices: number[]): void {
    const axial = this.geometry.planes.axial;
    if (this.paintPlanes.length < 2 || !axial || !this.layers.has(layer)) return;
    const [I, J] = [axial.columns, axial.rows];
    const scalars = (id: string) => cache.getImage(id)?.voxelManager?.getScalarData() as Uint8Array | undefined;
    const targets = this.paintPlanes.filter((p) => p !== from).map((plane) => {
      const ids = this.labelmapIds(plane, layer);
      const arrays: (Uint8Array | undefined)[] = new Array(ids.length);
      return { plane, get: (n: number) => (arrays[n] ??= scalars(ids[n])) };
    });
    const sources = this.labelmapIds(from, layer);
    for (const s of slices) {
      const image = cache.getImage(sources[s]);
      const values = image?.voxelManager?.getScalarData() as Uint8Array | undefined;
      if (!image || !values) continue;
      const columns = image.columns;
      for (let p = 0; p < values.length; p++) {
        const v = values[p];
        const x = p % columns;
        const y = (p - x) / columns;
        const [i, j, k] = from === "axial" ? [x, y, s] : from === "sagittal" ? [s, x, y] : [x, s, y];
        for (const t of targets) {
          if (t.plane === "axial") { const a = t.get(k); if (a) a[j * I + i] = v; }
          else if (t.plane === "sagittal") { const a = t.get(i); if (a) a[k * J + j] = v; }
          else { const a = t.get(j); if (a) a[k * I + i] = v; }
        }
      }
    }
    this.syncing = true;
    try {
      for (const t of targets) {
        segmentation.triggerSegmentationEvents.triggerSegmentationDataModified(this.segmentationId(t.plane, layer));
      }
    } finally {
      this.syncing = false;
    }
  }

  /** The labelmap slices an undo or redo step will change, to copy them to the other planes after it. */
  private stepSlices(item: unknown): { plane: Plane; slice: number }[] {
    const memos = (Array.isArray(item) ? item : [item]) as any[];
    return memos.filter((m) => m?.operationType === "labelmap")
      .map((m) => this.whereIs.get(m.segmentationVoxelManager?.id))
      .filter((w): w is { plane: Plane; slice: number } => !!w);
  }

  setActiveLabel(index: number): void {
    for (const plane of this.paintPlanes) {
      segmentation.segmentIndex.setActiveSegmentIndex(this.segmentationId(plane), index);
    }
  }

  setBrushSize(size: number): void {
    toolUtilities.segmentation.setBrushSizeForToolGroup(this.viewer.toolGroupId, size);
  }

  /** Make a tool the left button's, and make the segmentation of the hovered plane active. */
  useTool(name: string): void {
    this.viewer.setPrimaryTool(name);
  }

  // -- reading what was drawn ----------------------------------------------------------------

  private ours(): any[] {
    const frame = `datamint-${this.resourceId}`;
    return csAnnotation.state.getAllAnnotations().filter((a: any) =>
      a.metadata?.FrameOfReferenceUID === frame && this.instances.has(a.metadata?.toolName));
  }

  /** Every geometric annotation shown, in pixels (snapped to pixel centres). */
  drawn(): Drawn[] {
    const out: Drawn[] = [];
    for (const a of this.ours()) {
      const ref = parseImageId(a.metadata.referencedImageId ?? "");
      const spec = this.instances.get(a.metadata.toolName)!;
      const plane = ref ? this.geometry.planes[ref.plane] : undefined;
      if (!ref || !plane) continue;
      const pts = TOOLS[spec.type].points(a);
      out.push({
        uid: a.annotationUID, identifier: spec.identifier, type: spec.type, plane: ref.plane, frame: ref.index,
        pixels: pts.map((p: number[]) => snap(plane, ref.index, p).pixel),
        mine: !this.others.has(a.annotationUID), author: this.authors.get(a.annotationUID) ?? this.me,
        ...(TOOLS[spec.type].closed !== undefined ? { closed: !!a.data.contour?.closed } : {}),
      });
    }
    return out;
  }

  /** The create item (wire §7.2) of a drawn annotation. */
  private item(d: Drawn): Record<string, unknown> {
    const plane = this.geometry.planes[d.plane]!;
    let pixels = d.pixels;
    if (d.type === "square") {
      const xs = pixels.map((p) => p[0]);
      const ys = pixels.map((p) => p[1]);
      const [x1, x2, y1, y2] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
      pixels = [[x1, y1], [x2, y1], [x1, y2], [x2, y2]];
    }
    const points = pixels.map(([x, y]) => toWorld(plane, d.frame, x, y).map((v) => Number(v.toFixed(6))));
    const geometry: Record<string, unknown> = { points };
    if (TOOLS[d.type].closed !== undefined) geometry.closed = d.closed;
    if (this.geometry.patient_space) {
      geometry.viewPlaneNormal = normal(plane);
      geometry.viewUp = plane.column_cosines;
    }
    const axial = d.plane === "axial";
    return {
      type: d.type, identifier: d.identifier, scope: axial ? "frame" : "image",
      ...(axial ? { frame_index: d.frame } : {}), geometry, annotation_worklist_id: this.worklistId,
      source: "manual",
    };
  }

  private signature(d: Drawn): string {
    return JSON.stringify([d.identifier, d.plane, d.frame, d.pixels, d.closed]);
  }

  /** What saving must do for geometric annotations: items to create and my ids to delete. */
  geometricChanges(): { create: Record<string, unknown>[]; remove: string[] } {
    const current = this.drawn().filter((d) => d.mine);
    const create: Record<string, unknown>[] = [];
    const kept = new Set<string>();
    for (const d of current) {
      const before = this.loaded.get(d.uid);
      if (before && before.signature === this.signature(d)) kept.add(before.id);
      else create.push(this.item(d));
    }
    const remove = [...this.loaded.values()].map((l) => l.id).filter((id) => !kept.has(id));
    return { create, remove };
  }

  /** After a save: remember what the server now holds. */
  markSaved(createdIds: string[]): void {
    const current = this.drawn().filter((d) => d.mine);
    const pending = current.filter((d) => {
      const before = this.loaded.get(d.uid);
      return !(before && before.signature === this.signature(d));
    });
    const next = new Map<string, { id: string; signature: string }>();
    for (const d of current) {
      const before = this.loaded.get(d.uid);
      if (before && before.signature === this.signature(d)) next.set(d.uid, before);
    }
    pending.forEach((d, i) => next.set(d.uid, { id: createdIds[i], signature: this.signature(d) }));
    this.loaded = next;
  }

  // -- masks ------------------------------------------------------------------------------------

  /** Per axial frame and label, the binary mask drawn in any plane (frame masks, wire §8.1). */
  masks(): Map<string, { identifier: string; frame: number; data: Uint8Array }> {
    const out = new Map<string, { identifier: string; frame: number; data: Uint8Array }>();
    const axial = this.geometry.planes.axial;
    if (!axial || !this.labels.length) return out;
    const width = axial.columns;
    const height = axial.rows;
    const byIndex = new Map(this.labels.map((l) => [l.index, l.identifier]));
    const mark = (label: number, frame: number, x: number, y: number) => {
      const identifier = byIndex.get(label);
      if (!identifier) return;
      const key = `${identifier}/${frame}`;
      let entry = out.get(key);
      if (!entry) { entry = { identifier, frame, data: new Uint8Array(width * height) }; out.set(key, entry); }
      entry.data[y * width + x] = 255;
    };
    // the planes hold the same voxels (see propagate): the axial labelmap is the mask
    this.labelmapIds("axial").forEach((id: string, frame: number) => {
      const values = cache.getImage(id)?.voxelManager?.getScalarData() as Uint8Array | undefined;
      if (!values) return;
      for (let p = 0; p < values.length; p++) {
        const label = values[p];
        if (label) mark(label, frame, p % width, Math.floor(p / width));
      }
    });
    return out;
  }

  /** Paint a mask downloaded from the server into a layer's labelmaps (mine: to edit; others: to show). */
  async paintMask(identifier: string, frame: number, mask: Uint8ClampedArray | Uint8Array, channels: number,
    layer: Layer = "mine"): Promise<void> {
    const label = this.labels.find((l) => l.identifier === identifier);
    if (!label) return;
    if (!this.layers.has(layer)) await this.addLayer(layer);
    const image = cache.getImage(this.labelmapIds("axial", layer)[frame]);
    const values = image?.voxelManager?.getScalarData() as Uint8Array | undefined;
    if (!values) return;
    for (let p = 0; p < values.length; p++) if (mask[p * channels]) values[p] = label.index;
    if (layer === "others") this.othersPainted = true;
    this.propagate(layer, "axial", [frame]);
    this.syncing = true;
    try {
      segmentation.triggerSegmentationEvents.triggerSegmentationDataModified(this.segmentationId("axial", layer));
    } finally {
      this.syncing = false;
    }
  }

  /** Whether other annotators' or models' masks are shown (the "others" mask layer). */
  get hasOthersMasks(): boolean {
    return this.othersPainted;
  }

  /** Show or hide other annotators' and models' masks. */
  setOthersMasksVisible(visible: boolean): void {
    if (!this.layers.has("others")) return;
    for (const plane of this.paintPlanes) {
      segmentation.config.visibility.setSegmentationRepresentationVisibility(plane,
        { segmentationId: this.segmentationId(plane, "others"), type: ToolEnums.SegmentationRepresentations.Labelmap },
        visible);
    }
  }

  /** Adopt the others' masks as mine: their voxels are added to my labelmaps (mine win where both
   * are painted) and saved as my masks at the next save. */
  acceptOthersMasks(): number {
    if (!this.layers.has("others")) return 0;
    let adopted = 0;
    const mine = this.labelmapIds("axial");
    const changed: number[] = [];
    this.labelmapIds("axial", "others").forEach((id, frame) => {
      const theirs = cache.getImage(id)?.voxelManager?.getScalarData() as Uint8Array | undefined;
      const ours = cache.getImage(mine[frame])?.voxelManager?.getScalarData() as Uint8Array | undefined;
      if (!theirs || !ours) return;
      let any = false;
      for (let p = 0; p < theirs.length; p++) {
        if (theirs[p] && !ours[p]) { ours[p] = theirs[p]; adopted++; any = true; }
      }
      if (any) changed.push(frame);
    });
    if (changed.length) {
      this.propagate("mine", "axial", changed);
      this.syncing = true;
      try {
        segmentation.triggerSegmentationEvents.triggerSegmentationDataModified(this.segmentationId("axial"));
      } finally {
        this.syncing = false;
      }
    }
    return adopted;
  }

  setMaskId(identifier: string, frame: number, id: string): void {
    this.maskIds.set(`${identifier}/${frame}`, id);
  }

  maskId(identifier: string, frame: number): string | undefined {
    return this.maskIds.get(`${identifier}/${frame}`);
  }

  forgetMask(identifier: string, frame: number): void {
    this.maskIds.delete(`${identifier}/${frame}`);
  }

  knownMasks(): [string, string][] {
    return [...this.maskIds.entries()];
  }

  // -- showing what the server holds -----------------------------------------------------------

  /** Show a geometric annotation from the server (others' ones read-only). */
  show(a: WireAnnotation): void {
    // an open region (the SDK's polyline) is shown with a polyline tool of the same label when there is one
    const openRegion = a.type === "region" && a.geometry?.closed === false;
    const entry = [...this.instances.entries()].find(([, s]) => s.identifier === a.identifier
      && (s.type === a.type || (openRegion && s.type === "spline")))
      ?? [...this.instances.entries()].find(([, s]) => s.identifier === a.identifier && s.type === a.type);
    const points = a.geometry?.points;
    if (!entry || !points?.length) return;
    const [toolName] = entry;
    const author = a.created_by ?? a.added_by ?? "";
    const mine = author === this.me && a.source !== "model_deploy";
    const plane: Plane = a.frame_index !== null && a.frame_index !== undefined ? "axial" : this.planeOf(points);
    const frame = plane === "axial" && a.frame_index !== null && a.frame_index !== undefined
      ? a.frame_index : nearestSlice(this.geometry.planes[plane]!, points[0]);
    const world = points.map((p) => (p.length === 3 ? p : [p[0], p[1], frame]) as Vec3);
    const parent = TOOLS[entry[1].type].parent;
    const viewportId = plane;
    const toolInstance = this.toolGroup.getToolInstance(toolName);
    const options = {
      referencedImageId: makeImageId(this.resourceId, plane, frame), toolInstance, datamintId: a.id,
      ...(parent === SplineROITool.toolName ? { splineType: "LINEAR" } : {}),
    };
    const hydrate = { [RectangleROITool.toolName]: RectangleROITool.hydrate, [LengthTool.toolName]: LengthTool.hydrate,
      [ProbeTool.toolName]: ProbeTool.hydrate, [SplineROITool.toolName]: SplineROITool.hydrate,
      [AngleTool.toolName]: AngleTool.hydrate, [CircleROITool.toolName]: CircleROITool.hydrate }[parent];
    const before = new Set(csAnnotation.state.getAllAnnotations().map((x: any) => x.annotationUID));
    hydrate?.(viewportId, world as Types.Point3[], options as any);
    const added: any = csAnnotation.state.getAllAnnotations().find((x: any) => !before.has(x.annotationUID));
    if (!added) return;
    if (parent === SplineROITool.toolName) added.data.contour.closed = a.geometry?.closed !== false; // polylines stay open
    const uid = added.annotationUID!;
    this.authors.set(uid, author);
    if (mine) {
      const drawn = this.drawn().find((d) => d.uid === uid);
      if (drawn) this.loaded.set(uid, { id: a.id, signature: this.signature(drawn) });
    } else {
      this.others.add(uid);
      csAnnotation.locking.setAnnotationLocked(uid, true);
    }
  }

  private planeOf(points: number[][]): Plane {
    let best: Plane = "axial";
    let bestSpread = Infinity;
    for (const plane of this.planes) {
      const n = normal(this.geometry.planes[plane]!);
      const t = points.map((p) => p[0] * n[0] + p[1] * n[1] + p[2] * n[2]);
      const spread = Math.max(...t) - Math.min(...t);
      if (spread < bestSpread - 1e-6) { best = plane; bestSpread = spread; }
    }
    return best;
  }

  /** Adopt another annotator's shape or a model's prediction as mine: it becomes editable and is
   * saved as a new annotation of mine (theirs stays as it is). */
  accept(uid: string): void {
    if (!this.others.delete(uid)) return;
    this.authors.set(uid, this.me);
    csAnnotation.locking.setAnnotationLocked(uid, false);
    csAnnotation.visibility.setAnnotationVisibility(uid, true);
    this.render();
  }

  /** Hide or show other people's annotations (the "others" layer). */
  setOthersVisible(visible: boolean): void {
    for (const uid of this.others) csAnnotation.visibility.setAnnotationVisibility(uid, visible);
    this.render();
  }

  remove(uid: string): void {
    csAnnotation.state.removeAnnotation(uid);
    this.render();
  }

  render(): void {
    for (const plane of this.planes) this.viewer.viewport(plane)?.render();
  }

  undo(): void {
    const memo = csUtilities.HistoryMemo.DefaultHistoryMemo as any;
    const touched = memo.canUndo ? this.stepSlices(memo.ring[memo.position]) : [];
    this.withoutSync(() => memo.undo());
    for (const { plane, slice } of touched) this.propagate("mine", plane, [slice]);
    this.render();
  }

  redo(): void {
    const memo = csUtilities.HistoryMemo.DefaultHistoryMemo as any;
    const touched = memo.canRedo ? this.stepSlices(memo.ring[(memo.position + 1) % memo.size]) : [];
    this.withoutSync(() => memo.redo());
    for (const { plane, slice } of touched) this.propagate("mine", plane, [slice]);
    this.render();
  }

  private withoutSync(run: () => void): void {
    this.syncing = true;
    try { run(); } finally { this.syncing = false; }
  }
}
