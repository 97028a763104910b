// One-time set-up of Cornerstone3D (rendering, tools, our image loader) and the cache limit.
import { cache, init as initCore } from "@cornerstonejs/core";
import {
  addTool, AngleTool, ArrowAnnotateTool, BrushTool, CircleROITool, EraserTool, init as initTools, LengthTool, PanTool, PlanarFreehandROITool,
  ProbeTool, RectangleROITool, SplineROITool, StackScrollTool, WindowLevelTool, ZoomTool,
} from "@cornerstonejs/tools";
import { registerLoader } from "./loader";

/** Slices kept in memory at most: a 2,000-slice study streams through this budget instead of
 * filling the tab's memory (least recently used slices are dropped and fetched again if needed).
 * Labelmaps (what the user paints) come on top of it: the annotation layer raises the limit by
 * their size while an item is open, and they are never evicted. */
export const CACHE_BYTES = 512 * 1024 * 1024;

/** Cornerstone's cache evicts its least recently used images, labelmaps included, when it needs
 * room: a long scroll through a big study would silently drop brush strokes. Here only slices
 * (`datamint:` images, which can be fetched again) are evicted. */
function evictSlicesOnly(): void {
  const c = cache as any;
  c.decacheIfNecessaryUntilBytesAvailable = (numBytes: number): number => {
    let available = c.getBytesAvailable();
    if (available >= numBytes) return available;
    const slices = Array.from(c._imageCache.values() as Iterable<any>)
      .filter((e) => !e.sharedCacheKey && String(e.imageId).startsWith("datamint:"))
      .sort((a, b) => a.timeStamp - b.timeStamp);
    for (const entry of slices) {
      c.removeImageLoadObject(entry.imageId); // announces IMAGE_CACHE_IMAGE_REMOVED
      available = c.getBytesAvailable();
      if (available >= numBytes) break;
    }
    return available;
  };
}

let ready: Promise<void> | null = null;

export function initCornerstone(): Promise<void> {
  ready ??= (async () => {
    initCore();
    initTools();
    cache.setMaxCacheSize(CACHE_BYTES);
    evictSlicesOnly();
    registerLoader();
    for (const tool of [WindowLevelTool, PanTool, ZoomTool, StackScrollTool, RectangleROITool, LengthTool, ProbeTool,
      PlanarFreehandROITool, SplineROITool, ArrowAnnotateTool, BrushTool, EraserTool, AngleTool, CircleROITool]) {
      addTool(tool);
    }
  })();
  return ready;
}
