import { useEffect, useRef, useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { items, request } from "../api";
import { useActiveTime } from "../annotate/activeTime";
import { AnnotationPanel } from "../annotate/AnnotationPanel";
import { AnnotationController, GEOMETRIC_TYPES, type WireAnnotation } from "../annotate/controller";
import { ReviewNotes, ReviewPanel, type ReviewMessage } from "../annotate/ReviewPanel";
import { answerKey, VALUE_TYPES, type Answers, type SavedState } from "../annotate/save";
import { isAdmin, useAuth } from "../auth";
import { ErrorNote, Layout } from "../components/Layout";
import { useLoad } from "../hooks";
import type { SliceGeometry } from "../viewer/loader";
import { Viewer, type ViewerHandle } from "../viewer/Viewer";
import type { Worklist } from "./Home";
import { DONE, loadWorklist, nextItem, type Resource, type WorkStatus } from "./Worklist";

async function loadItem(worklistId: string, resourceId: string) {
  const [resource, geometry, worklist, found, statuses] = await Promise.all([
    request<Resource>(`/resources/${resourceId}`),
    request<SliceGeometry>(`/resources/${resourceId}/slices`),
    request<Worklist>(`/annotationsets/${worklistId}`),
    request("/annotations/search", { json: { resource_id: resourceId, annotation_worklist_id: worklistId,
      load_ai_segmentations: true, limit: "5000", offset: "0" } }),
    request<WorkStatus[]>(`/annotationsets/${worklistId}/annotation-statuses`, { query: { resource_id: resourceId } }),
  ]);
  const pid = worklist.project_id;
  const [reviews, members] = await Promise.all([
    pid ? request<ReviewMessage[]>(`/projects/${pid}/reviewmessages`, { query: { resourceId } }) : [],
    pid ? request<{ user_id: string; roles: string[]; email?: string }[]>(`/projects/${pid}/members`)
      .catch(() => []) : [],
  ]);
  return { resource, geometry, worklist, annotations: items<WireAnnotation>(found), statuses, reviews, members };
}

async function maskPixels(resourceId: string, annotationId: string): Promise<Uint8ClampedArray> {
  const response = await request<Response>(`/annotations/${resourceId}/annotations/${annotationId}/file`, { raw: true });
  const bitmap = await createImageBitmap(await response.blob());
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const context = canvas.getContext("2d")!;
  context.drawImage(bitmap, 0, 0);
  return context.getImageData(0, 0, bitmap.width, bitmap.height).data;
}

export function ItemPage() {
  const { worklistId = "", resourceId = "" } = useParams();
  const { user } = useAuth();
  const navigate = useNavigate();
  const { data, error } = useLoad(() => loadItem(worklistId, resourceId), [worklistId, resourceId]);
  const [frame, setFrame] = useState(0);
  const [controller, setController] = useState<AnnotationController | null>(null);
  const [answers, setAnswers] = useState<Answers>({});
  const [layerError, setLayerError] = useState<string | null>(null);
  const saved = useRef<SavedState>({ classifications: new Map(), maskSignatures: new Map() });
  const me = user?.email ?? "";
  const canAnnotate = !!data && (data.worklist.annotators.some((a) => a.email === me) || isAdmin(user));
  const [statusNow, setStatusNow] = useState<string | null>(null);
  const [statuses, setStatuses] = useState<WorkStatus[] | null>(null);
  const [reviews, setReviews] = useState<ReviewMessage[] | null>(null);
  const currentStatuses = statuses ?? data?.statuses ?? [];
  const myStatus = statusNow ?? currentStatuses.find((s) => s.email === me)?.status;
  const canReview = !!data && (isAdmin(user) || data.members.some((m) => m.user_id === user?.id
    && m.roles.some((r) => r === "PROJECT_REVIEWER" || r === "PROJECT_MANAGER")));
  const myReviews = (reviews ?? data?.reviews ?? []).filter((r) => r.annotator === me);

  async function refreshReview() {
    const pid = data?.worklist.project_id;
    setStatuses(await request<WorkStatus[]>(`/annotationsets/${worklistId}/annotation-statuses`,
      { query: { resource_id: resourceId } }));
    if (pid) setReviews(await request<ReviewMessage[]>(`/projects/${pid}/reviewmessages`, { query: { resourceId } }));
  }

  useEffect(() => () => controller?.dispose(), [controller]);

  // the annotator's active time on this item, posted as a client workunit when they leave it
  useActiveTime(data?.worklist.project_id, resourceId, worklistId,
    !!data && data.worklist.annotators.some((a) => a.email === me));

  useEffect(() => { setController(null); setAnswers({}); setFrame(0); setStatusNow(null); setStatuses(null);
    setReviews(null);
    saved.current = { classifications: new Map(), maskSignatures: new Map() }; }, [resourceId]);

  // an annotator who opens an unfinished item marks it "opened", as the API's statuses go
  useEffect(() => {
    if (data && canAnnotate && data.worklist.annotators.some((a) => a.email === me) && !DONE.has(myStatus ?? "")
        && myStatus !== "opened" && myStatus !== "revision_request") {
      request(`/annotationsets/${worklistId}/resources/${resourceId}/status`, { json: { status: "opened" } })
        .then(() => setStatusNow("opened"))
        .catch((e) => setLayerError(e.message));
    }
  }, [data]); // eslint-disable-line react-hooks/exhaustive-deps

  async function ready(handle: ViewerHandle) {
    if (!data) return;
    try {
      const c = new AnnotationController(handle, resourceId, data.geometry, worklistId, data.worklist.annotations ?? [],
        data.worklist.segmentation_group ?? {}, me);
      await c.setUp();
      const loaded: Answers = {};
      for (const a of data.annotations) {
        const author = a.created_by ?? a.added_by;
        if (GEOMETRIC_TYPES.includes(a.type)) c.show(a);
        else if (VALUE_TYPES.has(a.type) && author === me) {
          const spec = (data.worklist.annotations ?? []).find((s: any) => s.identifier === a.identifier);
          if (!spec) continue;
          const key = answerKey(spec, a.frame_index);
          const value = a.type === "label" ? true : String(a.value ?? "");
          loaded[key] = value;
          saved.current.classifications.set(key, { id: a.id, value });
        } else if (a.type === "segmentation" && a.frame_index !== null && a.frame_index !== undefined
                   && (a.associated_file || a.file)) {
          // my masks to edit; other annotators' and models' masks in their own read-only layer
          const mine = author === me && a.source !== "model_deploy" && canAnnotate;
          await c.paintMask(a.identifier, a.frame_index, await maskPixels(resourceId, a.id), 4, mine ? "mine" : "others");
          if (mine) c.setMaskId(a.identifier, a.frame_index, a.id);
        }
      }
      for (const [key, m] of c.masks()) {
        let h = 0x811c9dc5;
        for (let i = 0; i < m.data.length; i++) { h ^= m.data[i]; h = Math.imul(h, 0x01000193); }
        saved.current.maskSignatures.set(key, h >>> 0);
      }
      setAnswers(loaded);
      c.render();
      setController(c);
    } catch (e) {
      setLayerError(e instanceof Error ? e.message : String(e));
    }
  }

  async function submit() {
    await request(`/annotationsets/${worklistId}/resources/${resourceId}/status`, { json: { status: "annotated" } });
    const { resources, statuses } = await loadWorklist(worklistId);
    const next = nextItem(resources, statuses, me, resourceId);
    navigate(next ? `/app/worklists/${worklistId}/items/${next.id}` : `/app/worklists/${worklistId}`);
  }

  return (
    <Layout wide title={<><Link to={`/app/worklists/${worklistId}`}>{data?.worklist.name ?? "Worklist"}</Link>
      {" / "}{data?.resource.filename ?? "…"} {myStatus && <span className={`badge ${myStatus}`}
        data-testid="my-status">{myStatus}</span>}</>}>
      <ErrorNote error={error ?? layerError} />
      <ReviewNotes messages={myReviews} />
      {data && (
        <div className="workspace">
          <Viewer key={resourceId} resourceId={resourceId} geometry={data.geometry} onReady={ready}
            onSlice={(plane, index) => plane === "axial" && setFrame(index)} />
          {controller && (
            <div className="side">
            {canReview && <ReviewPanel worklistId={worklistId} resourceId={resourceId} statuses={currentStatuses}
              onDecided={refreshReview} />}
            <AnnotationPanel controller={controller} specs={data.worklist.annotations ?? []} frame={frame}
              answers={answers} setAnswers={setAnswers} saved={saved.current} canAnnotate={canAnnotate}
              onSubmit={data.worklist.annotators.some((a) => a.email === me) ? submit : undefined} />
            </div>
          )}
        </div>
      )}
      <span hidden data-testid="current-slice">{frame}</span>
    </Layout>
  );
}
