// The side panel of an item: the worklist's tools, classifications, layers, undo/redo, help,
// save and submit.
import { Enums, eventTarget } from "@cornerstonejs/core";
import { Enums as ToolEnums, PanTool, WindowLevelTool, ZoomTool } from "@cornerstonejs/tools";
import { useEffect, useState } from "react";
import { BRUSH, ERASER, type AnnotationController, type Drawn, type Spec } from "./controller";
import { answerKey, saveAll, VALUE_TYPES, type Answers, type SavedState } from "./save";

const TYPE_NAMES: Record<string, string> = {
  square: "Box", line: "Line", distance: "Distance", point: "Point", region: "Polygon", area: "Area",
  spline: "Polyline", angle: "Angle", circle: "Circle",
};

export const SHORTCUTS: [string, string][] = [
  ["1 – 9", "Drawing tools, in the order listed"],
  ["B / E", "Brush / eraser (segmentation labels)"],
  ["[ / ]", "Smaller / larger brush"],
  ["W / P / Z", "Window/level, pan, zoom with the left button"],
  ["Wheel, ↑ / ↓", "Previous / next slice (PageUp/PageDown: 10)"],
  ["Home / End", "First / last slice"],
  ["R", "Reset zoom, pan and window"],
  ["Ctrl+Z / Ctrl+Y", "Undo / redo"],
  ["Ctrl+S", "Save"],
  ["?", "Show or hide this help"],
];

interface Props {
  controller: AnnotationController;
  specs: Spec[];
  frame: number;
  answers: Answers;
  setAnswers: (a: Answers) => void;
  saved: SavedState;
  canAnnotate: boolean;
  onSubmit?: () => Promise<void>;
}

export function AnnotationPanel({ controller, specs, frame, answers, setAnswers, saved, canAnnotate, onSubmit }: Props) {
  const [tool, setTool] = useState<string>(WindowLevelTool.toolName);
  const [label, setLabel] = useState<number>(controller.labels[0]?.index ?? 0);
  const [brushSize, setBrushSize] = useState(8);
  const [drawn, setDrawn] = useState<Drawn[]>(() => controller.drawn());
  const [showOthers, setShowOthers] = useState(true);
  const [showOthersMasks, setShowOthersMasks] = useState(true);
  const [help, setHelp] = useState(false);
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const tools = [...controller.instances.entries()];
  const valueSpecs = specs.filter((s) => VALUE_TYPES.has(s.type));

  // keep the list of drawn annotations current
  useEffect(() => {
    const refresh = () => setDrawn(controller.drawn());
    const events = [ToolEnums.Events.ANNOTATION_COMPLETED, ToolEnums.Events.ANNOTATION_MODIFIED,
      ToolEnums.Events.ANNOTATION_REMOVED, ToolEnums.Events.ANNOTATION_ADDED];
    events.forEach((e) => eventTarget.addEventListener(e, refresh));
    eventTarget.addEventListener(Enums.Events.IMAGE_RENDERED, refresh);
    refresh();
    return () => {
      events.forEach((e) => eventTarget.removeEventListener(e, refresh));
      eventTarget.removeEventListener(Enums.Events.IMAGE_RENDERED, refresh);
    };
  }, [controller]);

  function choose(name: string) {
    controller.useTool(name);
    setTool(name);
  }

  function chooseLabel(index: number) {
    controller.setActiveLabel(index);
    setLabel(index);
    if (tool !== BRUSH && tool !== ERASER) choose(BRUSH);
  }

  function resize(size: number) {
    const s = Math.max(1, Math.min(64, size));
    controller.setBrushSize(s);
    setBrushSize(s);
  }

  async function save(): Promise<boolean> {
    setBusy(true);
    setError(null);
    setStatus("Saving…");
    try {
      setStatus(await saveAll(controller, specs, answers, saved));
      setDrawn(controller.drawn());
      return true;
    } catch (e) {
      setStatus(null);
      setError(`Not saved: ${e instanceof Error ? e.message : String(e)}`);
      return false;
    } finally {
      setBusy(false);
    }
  }

  async function submit() {
    if (await save()) {
      try { await onSubmit?.(); } catch (e) { setError(e instanceof Error ? e.message : String(e)); }
    }
  }

  useEffect(() => {
    function onKey(e: KeyboardEvent) {
      if ((e.target as HTMLElement)?.closest?.("input, textarea, select")) return;
      const ctrl = e.ctrlKey || e.metaKey;
      if (ctrl && e.key.toLowerCase() === "z" && !e.shiftKey) { controller.undo(); e.preventDefault(); }
      else if (ctrl && (e.key.toLowerCase() === "y" || (e.key.toLowerCase() === "z" && e.shiftKey))) {
        controller.redo(); e.preventDefault();
      } else if (ctrl && e.key.toLowerCase() === "s") { if (canAnnotate) save(); e.preventDefault(); }
      else if (ctrl || e.altKey) return;
      else if (/^[1-9]$/.test(e.key) && canAnnotate && tools[Number(e.key) - 1]) choose(tools[Number(e.key) - 1][0]);
      else if (e.key === "b" && canAnnotate && controller.labels.length) choose(BRUSH);
      else if (e.key === "e" && canAnnotate && controller.labels.length) choose(ERASER);
      else if (e.key === "[") resize(brushSize - 2);
      else if (e.key === "]") resize(brushSize + 2);
      else if (e.key === "w") choose(WindowLevelTool.toolName);
      else if (e.key === "p") choose(PanTool.toolName);
      else if (e.key === "z") choose(ZoomTool.toolName);
      else if (e.key === "?") setHelp((h) => !h);
    }
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  const others = drawn.filter((d) => !d.mine);
  return (
    <aside className="panel" aria-label="Annotation">
      {canAnnotate && tools.length > 0 && (
        <section>
          <h3>Draw</h3>
          <div className="tools">
            {tools.map(([name, spec], i) => (
              <button key={name} className={tool === name ? "active" : ""} onClick={() => choose(name)}
                title={`${TYPE_NAMES[spec.type]} (${i + 1})`} data-testid={`tool-${spec.identifier}`}>
                <kbd>{i + 1}</kbd> {TYPE_NAMES[spec.type]}: {spec.identifier}
              </button>
            ))}
          </div>
        </section>
      )}
      {canAnnotate && controller.labels.length > 0 && (
        <section>
          <h3>Segmentation</h3>
          <div className="labels">
            {controller.labels.map((l) => (
              <button key={l.index} className={label === l.index && (tool === BRUSH || tool === ERASER) ? "active" : ""}
                onClick={() => chooseLabel(l.index)} data-testid={`label-${l.identifier}`}>
                <span className="swatch" style={{ background: `rgb(${l.color.slice(0, 3).join(",")})` }} />
                {l.identifier}
              </button>
            ))}
          </div>
          <div className="row">
            <button className={tool === BRUSH ? "active" : ""} onClick={() => choose(BRUSH)}>Brush (B)</button>
            <button className={tool === ERASER ? "active" : ""} onClick={() => choose(ERASER)}>Eraser (E)</button>
            <label className="inline">Size
              <input type="range" min={1} max={64} value={brushSize} aria-label="Brush size"
                onChange={(e) => resize(Number(e.target.value))} /></label>
          </div>
        </section>
      )}
      {valueSpecs.length > 0 && (
        <section>
          <h3>Classification</h3>
          {valueSpecs.map((spec) => {
            const key = answerKey(spec, frame);
            const value = answers[key] ?? (spec.type === "label" ? false : "");
            const set = (v: string | boolean) => setAnswers({ ...answers, [key]: v });
            const title = `${spec.identifier}${spec.scope === "frame" ? ` (slice ${frame + 1})` : ""}`;
            return (
              <div key={spec.identifier} className="question" data-testid={`question-${spec.identifier}`}>
                {spec.type === "label" ? (
                  <label className="inline"><input type="checkbox" checked={value === true} disabled={!canAnnotate}
                    onChange={(e) => set(e.target.checked)} /> {title}</label>
                ) : spec.type === "category" ? (
                  <label>{title}
                    <select value={String(value)} disabled={!canAnnotate} onChange={(e) => set(e.target.value)}>
                      <option value="">—</option>
                      {(spec.values ?? []).map((v) => <option key={v} value={v}>{v}</option>)}
                    </select></label>
                ) : (
                  <label>{title}
                    <input type={spec.type === "text" ? "text" : "number"} value={String(value)} disabled={!canAnnotate}
                      step={spec.type === "float" ? "any" : 1} onChange={(e) => set(e.target.value)} /></label>
                )}
              </div>
            );
          })}
        </section>
      )}
      <section>
        <h3>Annotations</h3>
        {others.length > 0 && (
          <label className="inline"><input type="checkbox" checked={showOthers}
            onChange={(e) => { setShowOthers(e.target.checked); controller.setOthersVisible(e.target.checked); }} />
            Show others' and models' annotations ({others.length})</label>
        )}
        {controller.hasOthersMasks && (
          <div className="row" data-testid="others-masks">
            <label className="inline"><input type="checkbox" checked={showOthersMasks}
              onChange={(e) => { setShowOthersMasks(e.target.checked); controller.setOthersMasksVisible(e.target.checked); }} />
              Show others' and models' masks</label>
            {canAnnotate && <button className="link" onClick={() => {
              const n = controller.acceptOthersMasks();
              setStatus(n ? `${n} voxels of their masks are now yours (save to keep them)` : "Their masks add nothing to yours");
            }}>accept their masks as mine</button>}
          </div>
        )}
        <ul className="drawn" data-testid="drawn">
          {drawn.map((d) => (
            <li key={d.uid} data-testid="drawn-item" data-identifier={d.identifier} data-type={d.type}
              data-plane={d.plane} data-frame={d.frame} data-pixels={JSON.stringify(d.pixels)} data-mine={d.mine}
              data-closed={d.closed === undefined ? undefined : String(d.closed)}>
              {TYPE_NAMES[d.type]} <b>{d.identifier}</b> · {d.plane === "axial" ? "slice" : d.plane} {d.frame + 1}
              {!d.mine && <span className="muted"> · {d.author}</span>}
              {!d.mine && canAnnotate && <button className="link" onClick={() => { controller.accept(d.uid);
                setDrawn(controller.drawn()); }}>accept as mine</button>}
              {d.mine && canAnnotate && <button className="link" onClick={() => controller.remove(d.uid)}>delete</button>}
            </li>
          ))}
        </ul>
        {drawn.length === 0 && <p className="muted small">Nothing drawn yet.</p>}
      </section>
      {canAnnotate && (
        <section className="actions">
          <div className="row">
            <button onClick={() => controller.undo()} title="Ctrl+Z">Undo</button>
            <button onClick={() => controller.redo()} title="Ctrl+Y">Redo</button>
            <button onClick={() => setHelp((h) => !h)} title="?">Shortcuts</button>
          </div>
          <div className="row">
            <button onClick={save} disabled={busy}>Save</button>
            {onSubmit && <button className="primary" onClick={submit} disabled={busy}>Submit for review</button>}
          </div>
          {status && <p className="muted small" data-testid="save-status">{status}</p>}
          {error && <p className="error" role="alert">{error}</p>}
        </section>
      )}
      {help && (
        <section className="help" data-testid="help">
          <h3>Keyboard shortcuts</h3>
          <table className="list"><tbody>
            {SHORTCUTS.map(([k, v]) => <tr key={k}><td><kbd>{k}</kbd></td><td>{v}</td></tr>)}
          </tbody></table>
        </section>
      )}
    </aside>
  );
}
