// The image viewer: Cornerstone3D stack viewports (one per plane), window/level by drag and
// presets, slice scroll by wheel and keys, zoom, pan, a slice counter and loading progress.
import { Enums, eventTarget, getRenderingEngine, RenderingEngine, utilities, type Types } from "@cornerstonejs/core";
import {
  Enums as ToolEnums, PanTool, StackScrollTool, ToolGroupManager, utilities as toolUtilities, WindowLevelTool, ZoomTool,
} from "@cornerstonejs/tools";
import { forwardRef, useEffect, useImperativeHandle, useRef, useState, type ReactNode } from "react";
import { CACHE_BYTES, initCornerstone } from "./cornerstone";
import { imageIdsFor, parseImageId, registerGeometry, type Plane, type SliceGeometry } from "./loader";

const { MouseBindings } = ToolEnums;

/** CT window presets (centre / width in HU), after the file's own window. */
export const CT_PRESETS: { name: string; center: number; width: number }[] = [
  { name: "Soft tissue", center: 40, width: 400 },
  { name: "Lung", center: -600, width: 1500 },
  { name: "Bone", center: 400, width: 1800 },
  { name: "Brain", center: 40, width: 80 },
];

/** Tools the left mouse button can hold (annotation tools are added by the annotation layer). */
export const NAVIGATION_TOOLS = [WindowLevelTool.toolName, PanTool.toolName, ZoomTool.toolName];

export interface ViewerHandle {
  renderingEngineId: string;
  toolGroupId: string;
  viewport(plane: Plane): Types.IStackViewport | undefined;
  setPrimaryTool(toolName: string): void;
  goTo(plane: Plane, index: number): Promise<void>;
}

interface Props {
  resourceId: string;
  geometry: SliceGeometry;
  /** Called with the plane and index of the slice shown whenever it changes. */
  onSlice?: (plane: Plane, index: number) => void;
  /** Extra toolbar content (annotation tools). */
  toolbar?: ReactNode;
  /** Called once the viewports and tool group exist. */
  onReady?: (handle: ViewerHandle) => void;
}

let counter = 0;

/** Voxels above which the sagittal and coronal slices of a volume are fetched when shown, not
 * prefetched: each crosses every frame (2 MB for 2,000 frames of 512), and prefetching them would
 * keep the browser's few connections to the server busy while the annotator scrolls the axial view. */
export const PREFETCH_MPR_VOXELS = 64 * 1024 * 1024;

function bigVolume(geometry: SliceGeometry): boolean {
  const axial = geometry.planes.axial;
  return !!axial && axial.rows * axial.columns * axial.count > PREFETCH_MPR_VOXELS;
}

/** Flips that show a volume's plane in radiological convention: a NIfTI's three planes and a DICOM
 * series' resliced sagittal and coronal planes (DICOM frames themselves are stored display-ready). */
function displayFlips(geometry: SliceGeometry, plane: Plane): { flipHorizontal: boolean; flipVertical: boolean } {
  const g = geometry.planes[plane];
  const volume = geometry.kind === "nifti" || (geometry.kind === "dicom" && plane !== "axial");
  if (!volume || !g) return { flipHorizontal: false, flipVertical: false };
  const [rx, ry] = g.row_cosines;
  const [, cy, cz] = g.column_cosines;
  if (plane === "axial") return { flipHorizontal: rx < 0, flipVertical: cy < 0 };
  if (plane === "sagittal") return { flipHorizontal: ry < 0, flipVertical: cz > 0 };
  return { flipHorizontal: rx < 0, flipVertical: cz > 0 };
}

export const Viewer = forwardRef<ViewerHandle, Props>(function Viewer({ resourceId, geometry, onSlice, toolbar, onReady },
  ref) {
  const planes = (["axial", "sagittal", "coronal"] as Plane[]).filter((p) => geometry.planes[p]);
  const elements = useRef<Partial<Record<Plane, HTMLDivElement | null>>>({});
  const ids = useRef({ engine: `engine-${++counter}`, tools: `tools-${counter}` });
  const [indexes, setIndexes] = useState<Partial<Record<Plane, number>>>({});
  const [loaded, setLoaded] = useState(0);
  const [voi, setVoi] = useState<{ center: number; width: number } | null>(geometry.window);
  const [primary, setPrimary] = useState(WindowLevelTool.toolName);
  const [active, setActive] = useState<Plane>(planes[0]);
  const [error, setError] = useState<string | null>(null);
  const handle = useRef<ViewerHandle | null>(null);
  const total = planes.reduce((n, p) => n + (geometry.planes[p]?.count ?? 0), 0);

  useImperativeHandle(ref, () => handle.current as ViewerHandle);

  useEffect(() => {
    let disposed = false;
    const cleanups: (() => void)[] = [];
    (async () => {
      await initCornerstone();
      if (disposed) return;
      registerGeometry(resourceId, geometry);
      const engine = new RenderingEngine(ids.current.engine);
      const toolGroup = ToolGroupManager.createToolGroup(ids.current.tools)!;
      for (const name of [WindowLevelTool.toolName, PanTool.toolName, ZoomTool.toolName, StackScrollTool.toolName]) {
        toolGroup.addTool(name);
      }
      toolGroup.setToolActive(WindowLevelTool.toolName, { bindings: [{ mouseButton: MouseBindings.Primary }] });
      toolGroup.setToolActive(PanTool.toolName, { bindings: [{ mouseButton: MouseBindings.Auxiliary }] });
      toolGroup.setToolActive(ZoomTool.toolName, { bindings: [{ mouseButton: MouseBindings.Secondary }] });
      toolGroup.setToolActive(StackScrollTool.toolName, { bindings: [{ mouseButton: MouseBindings.Wheel }] });

      const onLoaded = (evt: Event) => {
        const id = (evt as CustomEvent).detail?.image?.imageId as string | undefined;
        if (id && parseImageId(id)?.resourceId === resourceId) setLoaded((n) => n + 1);
      };
      eventTarget.addEventListener(Enums.Events.IMAGE_LOADED, onLoaded);
      cleanups.push(() => eventTarget.removeEventListener(Enums.Events.IMAGE_LOADED, onLoaded));

      const show = async (plane: Plane) => {
        const element = elements.current[plane]!;
        engine.enableElement({ viewportId: plane, type: Enums.ViewportType.STACK, element,
          defaultOptions: { background: [0, 0, 0] as Types.Point3 } });
        toolGroup.addViewport(plane, ids.current.engine);
        const viewport = engine.getViewport(plane) as Types.IStackViewport;
        const imageIds = imageIdsFor(resourceId, plane);
        const start = plane === "axial" && geometry.kind !== "nifti" ? 0 : Math.floor(imageIds.length / 2);
        const onNew = (evt: Event) => {
          const index = (evt as CustomEvent).detail?.imageIdIndex as number;
          setIndexes((s) => ({ ...s, [plane]: index }));
          onSlice?.(plane, index);
        };
        const onVoi = (evt: Event) => {
          const range = (evt as CustomEvent).detail?.range as { lower: number; upper: number } | undefined;
          if (!range) return;
          const { windowCenter, windowWidth } = utilities.windowLevel.toWindowLevel(range.lower, range.upper);
          setVoi({ center: windowCenter, width: windowWidth });
        };
        element.addEventListener(Enums.Events.STACK_NEW_IMAGE, onNew);
        element.addEventListener(Enums.Events.VOI_MODIFIED, onVoi);
        cleanups.push(() => {
          element.removeEventListener(Enums.Events.STACK_NEW_IMAGE, onNew);
          element.removeEventListener(Enums.Events.VOI_MODIFIED, onVoi);
        });
        await viewport.setStack(imageIds, start);
        if (disposed) return;
        viewport.setCamera(displayFlips(geometry, plane));
        viewport.render();
        setIndexes((s) => ({ ...s, [plane]: start }));
        onSlice?.(plane, start);
        if (plane !== "axial" && bigVolume(geometry)) return;
        // a stack that fits the cache comfortably is prefetched whole; a longer one (2,000 slices)
        // around the slice shown only, up to a quarter of the cache: prefetching all of it would
        // evict the slices next to the current one as fast as it fetched them
        const g = geometry.planes[plane]!;
        const bytes = g.count * g.rows * g.columns * (geometry.samples === 3 ? 3 : 2); // int16 or RGB, mostly
        if (bytes <= CACHE_BYTES / 2) toolUtilities.stackPrefetch.enable(element);
        else toolUtilities.stackContextPrefetch.enable(element);
      };
      // the axial view first; a big volume's other views come when their slices do (its first
      // sagittal slice waits for the whole series to be decoded), without holding the tools back
      const later: Promise<void>[] = [];
      for (const plane of planes) {
        if (plane !== "axial" && bigVolume(geometry)) later.push(show(plane));
        else await show(plane);
        if (disposed) return;
      }
      Promise.all(later).catch((e) => setError(e instanceof Error ? e.message : String(e)));
      handle.current = {
        renderingEngineId: ids.current.engine,
        toolGroupId: ids.current.tools,
        viewport: (plane) => engine.getViewport(plane) as Types.IStackViewport | undefined,
        setPrimaryTool: (name) => choosePrimary(name),
        goTo: async (plane, index) => {
          const viewport = engine.getViewport(plane) as Types.IStackViewport;
          await viewport.setImageIdIndex(index);
        },
      };
      onReady?.(handle.current);
    })().catch((e) => setError(e instanceof Error ? e.message : String(e)));
    return () => {
      disposed = true;
      cleanups.forEach((f) => f());
      ToolGroupManager.destroyToolGroup(ids.current.tools);
      getRenderingEngine(ids.current.engine)?.destroy();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [resourceId]);

  function viewports(): Types.IStackViewport[] {
    const engine = getRenderingEngine(ids.current.engine);
    return planes.map((p) => engine?.getViewport(p) as Types.IStackViewport).filter(Boolean);
  }

  function choosePrimary(name: string) {
    const toolGroup = ToolGroupManager.getToolGroup(ids.current.tools);
    if (!toolGroup) return;
    const current = toolGroup.getActivePrimaryMouseButtonTool();
    if (current && current !== name) {
      if (NAVIGATION_TOOLS.includes(current)) {
        // keep pan on the middle and zoom on the right button
        const keep = current === PanTool.toolName ? MouseBindings.Auxiliary
          : current === ZoomTool.toolName ? MouseBindings.Secondary : null;
        if (keep) toolGroup.setToolActive(current, { bindings: [{ mouseButton: keep }] });
        else toolGroup.setToolPassive(current);
      } else {
        toolGroup.setToolPassive(current);
      }
    }
    toolGroup.setToolActive(name, { bindings: [{ mouseButton: MouseBindings.Primary }] });
    setPrimary(name);
  }

  /** Apply a DICOM linear window (PS3.3 C.11.2.1.2), as the file's own window is applied. */
  function applyWindow(center: number, width: number) {
    for (const viewport of viewports()) {
      viewport.setProperties({ voiRange: utilities.windowLevel.toLowHighRange(width, center) });
      viewport.render();
    }
    setVoi({ center, width });
  }

  function scroll(delta: number) {
    const viewport = getRenderingEngine(ids.current.engine)?.getViewport(active) as Types.IStackViewport | undefined;
    viewport?.scroll(delta);
  }

  function reset() {
    for (const viewport of viewports()) {
      viewport.resetCamera();
      viewport.resetProperties();
      viewport.setCamera(displayFlips(geometry, viewport.id as Plane));
      viewport.render();
    }
    setVoi(geometry.window);
  }

  useEffect(() => {
    function onKey(e: KeyboardEvent) {
      if ((e.target as HTMLElement)?.closest?.("input, textarea, select")) return;
      if (e.key === "ArrowUp" || e.key === "PageUp") { scroll(e.key === "PageUp" ? -10 : -1); e.preventDefault(); }
      else if (e.key === "ArrowDown" || e.key === "PageDown") { scroll(e.key === "PageDown" ? 10 : 1); e.preventDefault(); }
      else if (e.key === "Home") { handle.current?.goTo(active, 0); e.preventDefault(); }
      else if (e.key === "End") { handle.current?.goTo(active, (geometry.planes[active]?.count ?? 1) - 1); e.preventDefault(); }
      else if (e.key === "r" && !e.ctrlKey && !e.metaKey) reset();
    }
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  const isCT = geometry.modality === "CT";
  return (
    <div className="viewer">
      <div className="toolbar" role="toolbar" aria-label="Viewer tools">
        <button className={primary === WindowLevelTool.toolName ? "active" : ""} title="Window/level: drag (W)"
          onClick={() => choosePrimary(WindowLevelTool.toolName)}>Window</button>
        <button className={primary === PanTool.toolName ? "active" : ""} title="Pan: drag, or middle button"
          onClick={() => choosePrimary(PanTool.toolName)}>Pan</button>
        <button className={primary === ZoomTool.toolName ? "active" : ""} title="Zoom: drag, or right button"
          onClick={() => choosePrimary(ZoomTool.toolName)}>Zoom</button>
        <button onClick={reset} title="Reset zoom, pan and window (R)">Reset</button>
        {geometry.samples === 1 && (
          <select aria-label="Window preset" value="" onChange={(e) => {
            const [c, w] = e.target.value.split("/").map(Number);
            if (!Number.isNaN(c)) applyWindow(c, w);
          }}>
            <option value="">Window presets…</option>
            {geometry.window && <option value={`${geometry.window.center}/${geometry.window.width}`}>File window</option>}
            {isCT && CT_PRESETS.map((p) => <option key={p.name} value={`${p.center}/${p.width}`}>{p.name}</option>)}
          </select>
        )}
        {toolbar}
      </div>
      {error && <p className="error" role="alert">{error}</p>}
      <div className={`viewports n${planes.length}`}>
        {planes.map((plane) => (
          <div key={plane} className={`viewport ${active === plane ? "focused" : ""}`}
            onMouseEnter={() => setActive(plane)} onMouseDown={() => setActive(plane)}>
            <div className="element" data-testid={`viewport-${plane}`} onContextMenu={(e) => e.preventDefault()}
              ref={(el) => { elements.current[plane] = el; }} />
            <div className="overlay top-left">{planes.length > 1 ? plane : geometry.modality ?? geometry.kind}</div>
            <div className="overlay bottom-left" data-testid={`slice-counter-${plane}`}>
              {(indexes[plane] ?? 0) + 1} / {geometry.planes[plane]?.count}
            </div>
            {voi && geometry.samples === 1 && (
              <div className="overlay bottom-right" data-testid={`voi-${plane}`}>
                W {Math.round(voi.width)} L {Math.round(voi.center)}
              </div>
            )}
          </div>
        ))}
      </div>
      <div className="muted small" data-testid="loaded">Loaded {Math.min(loaded, total)} / {total} slices</div>
    </div>
  );
});
