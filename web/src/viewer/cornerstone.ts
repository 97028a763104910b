// One-time set-up of Cornerstone3D (rendering, tools, our image loader) and the cache limit.
import { cache, init as initCore } from "@cornerstonejs/core";
import {
  addTool, ArrowAnnotateTool, BrushTool, EraserTool, init as initTools, LengthTool, PanTool, PlanarFreehandROITool,
  ProbeTool, RectangleROITool, SplineROITool, StackScrollTool, WindowLevelTool, ZoomTool,
} from "@cornerstonejs/tools";
import { registerLoader } from "./loader";

/** Slices kept in memory at most: a 2,000-slice study streams through this budget instead of
 * filling the tab's memory (least recently used slices are dropped and fetched again if needed). */
export const CACHE_BYTES = 512 * 1024 * 1024;

let ready: Promise<void> | null = null;

export function initCornerstone(): Promise<void> {
  ready ??= (async () => {
    initCore();
    initTools();
    cache.setMaxCacheSize(CACHE_BYTES);
    registerLoader();
    for (const tool of [WindowLevelTool, PanTool, ZoomTool, StackScrollTool, RectangleROITool, LengthTool, ProbeTool,
      PlanarFreehandROITool, SplineROITool, ArrowAnnotateTool, BrushTool, EraserTool]) {
      addTool(tool);
    }
  })();
  return ready;
}
