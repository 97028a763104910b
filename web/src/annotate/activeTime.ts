import { useEffect } from "react";
import { request } from "../api";

/** Idle gaps longer than this count as this much, as the server caps its own workunits. */
export const IDLE_CAP_MS = 300_000;

/** Active time on one page: only while the tab is visible, each gap between two signs of
 * activity (input, visibility changes) counted at most {@link IDLE_CAP_MS}. */
export class ActiveTimer {
  private total = 0;
  private last: number | null;

  constructor(private readonly now: () => number = () => performance.now(), visible = true) {
    this.last = visible ? now() : null;
  }

  /** Count the time since the last tick (if the tab was visible) and start a new gap. */
  tick(visible: boolean): void {
    const t = this.now();
    if (this.last !== null) this.total += Math.min(t - this.last, IDLE_CAP_MS);
    this.last = visible ? t : null;
  }

  /** The active seconds so far, and restart from zero. */
  take(visible: boolean): number {
    this.tick(visible);
    const seconds = this.total / 1000;
    this.total = 0;
    return seconds;
  }
}

const ACTIVITY = ["pointerdown", "keydown", "wheel", "pointermove"] as const;

/** While an annotator is on an item, measure their active time and post it as a client workunit
 * (`POST /projects/{pid}/resources/{rid}/workunits`) when they leave the item (another item,
 * another page, or the tab closes). Nothing is posted below one second. */
export function useActiveTime(projectId: string | null | undefined, resourceId: string, worklistId: string,
                              enabled: boolean): void {
  useEffect(() => {
    if (!enabled || !projectId) return;
    const visible = () => document.visibilityState === "visible";
    const timer = new ActiveTimer(undefined, visible());
    let sent = false;
    const onActivity = () => timer.tick(visible());
    const report = () => {
      if (sent) return;
      sent = true;
      const seconds = Math.round(timer.take(visible()) * 10) / 10;
      if (seconds < 1) return;
      request(`/projects/${projectId}/resources/${resourceId}/workunits`,
        { json: { seconds: Math.min(seconds, 86400), action: "annotate", worklist_id: worklistId } })
        .catch(() => undefined);  // best effort: time reporting never blocks annotating
    };
    for (const name of ACTIVITY) window.addEventListener(name, onActivity, { passive: true });
    document.addEventListener("visibilitychange", onActivity);
    window.addEventListener("pagehide", report);
    return () => {
      for (const name of ACTIVITY) window.removeEventListener(name, onActivity);
      document.removeEventListener("visibilitychange", onActivity);
      window.removeEventListener("pagehide", report);
      report();
    };
  }, [projectId, resourceId, worklistId, enabled]);
}
