// The reviewer's decision on an item: approve an annotator's work, or ask for a revision with a
// message the annotator will see on the item (the API's work statuses and review messages).
import { useState } from "react";
import { request } from "../api";
import type { WorkStatus } from "../pages/Worklist";

export interface ReviewMessage {
  id: string;
  annotator: string;
  status: string;
  message: string | null;
  created_at: string;
  created_by: string;
}

interface Props {
  worklistId: string;
  resourceId: string;
  statuses: WorkStatus[];
  onDecided: () => void;
}

export function ReviewPanel({ worklistId, resourceId, statuses, onDecided }: Props) {
  const [messages, setMessages] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const annotators = statuses;

  async function decide(annotator: string, status: "approved" | "revision_request") {
    setBusy(true);
    setError(null);
    try {
      const message = messages[annotator]?.trim();
      if (status === "revision_request" && !message) throw new Error("Say what to change: write a message first");
      await request(`/annotationsets/${worklistId}/resources/${resourceId}/status`, {
        json: { status, annotator, ...(message ? { message } : {}) },
      });
      setMessages({ ...messages, [annotator]: "" });
      onDecided();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="review card" aria-label="Review" data-testid="review">
      <h3>Review</h3>
      {annotators.length === 0 && <p className="muted small">No annotator has worked on this item yet.</p>}
      {annotators.map((s) => (
        <div key={s.email} className="decision" data-testid={`review-${s.email}`}>
          <div className="row"><b>{s.email}</b> <span className={`badge ${s.status}`}>{s.status}</span></div>
          <label>Message to the annotator
            <textarea rows={2} value={messages[s.email] ?? ""} aria-label={`Message to ${s.email}`}
              onChange={(e) => setMessages({ ...messages, [s.email]: e.target.value })} /></label>
          <div className="row">
            <button className="primary" disabled={busy} onClick={() => decide(s.email, "approved")}>Approve</button>
            <button className="danger" disabled={busy} onClick={() => decide(s.email, "revision_request")}>
              Request revision</button>
          </div>
        </div>
      ))}
      {error && <p className="error" role="alert">{error}</p>}
    </section>
  );
}

export function ReviewNotes({ messages }: { messages: ReviewMessage[] }) {
  if (!messages.length) return null;
  const last = messages[messages.length - 1];
  return (
    <div className={`notice ${last.status}`} data-testid="review-message" role="status">
      <b>{last.status === "revision_request" ? "Revision requested" : "Approved"}</b> by {last.created_by}
      {last.message ? <>: “{last.message}”</> : null}
    </div>
  );
}
