// Paradata (DESIGN.md §11): how a visit was made, measured while the form is open and sent with
// the visit for the supervisor's quality checks.
//
// - Duration counts foreground time only: the clock runs while the form is on screen and the app
//   is visible, and stops when the phone is locked, the app goes to the background or the form is
//   left. A form left open in a pocket does not make a hurried visit look careful.
// - Time per section goes to the section the enumerator last worked in (a focus or a tap inside
//   it), so it measures work, not scrolling.
// - An answer change is an answer replaced by a different one (the first answer is not a change).
// - The first fix of the visit is kept as `gps_start`; at finish the fix kept for the visit is
//   `gps_finish`. Any fix the platform marked as mocked makes `mock_location` true.
//
// Times are whole seconds; the tracker keeps milliseconds inside so short spells add up.

import type { Gps, Paradata } from "./generated/types";

/** The longest foreground time a visit reports, seconds (`PARADATA_MAX_DURATION_S`). */
export const MAX_DURATION_S = 86_400;

export interface Tracker {
  /** The form is on screen and the app visible: the clock runs. */
  resume(): void;
  /** Locked, backgrounded or left: the clock stops. */
  pause(): void;
  /** Work moved to this section (null: outside the questionnaire's sections). */
  enter(section: string | null): void;
  /** An answer was given; `changed` when it replaced a different one. */
  answered(changed: boolean): void;
  /** A fix was taken. */
  fix(gps: Gps): void;
  /** The paradata so far (with `finish` as the fix at finish, when finishing). */
  snapshot(finish?: Gps | null): Paradata;
}

/** A tracker continuing `from` (a draft's earlier sessions), on the clock `now` (ms). */
export function tracker(from: Paradata | null | undefined, now: () => number = () => Date.now()): Tracker {
  let totalMs = (from?.duration_s ?? 0) * 1000;
  const sectionMs = new Map<string, number>(Object.entries(from?.sections ?? {}).map(([k, s]) => [k, (s ?? 0) * 1000]));
  let changes = from?.answer_changes ?? 0;
  let gpsStart: Gps | null = from?.gps_start ?? null;
  let gpsFinish: Gps | null = from?.gps_finish ?? null;
  let mock = from?.mock_location === true;
  let since: number | null = null;
  let section: string | null = null;
  // Adds the running spell to the total and the current section, and restarts it.
  const tick = () => {
    if (since === null) return;
    const t = now();
    const spell = Math.max(0, t - since);
    totalMs += spell;
    if (section) sectionMs.set(section, (sectionMs.get(section) ?? 0) + spell);
    since = t;
  };
  return {
    resume() { if (since === null) since = now(); },
    pause() { tick(); since = null; },
    enter(next) { tick(); section = next; },
    answered(changed) { if (changed) changes += 1; },
    fix(gps) {
      gpsStart ??= gps;
      if (gps.mocked === true) mock = true;
    },
    snapshot(finish) {
      tick();
      if (finish) {
        gpsFinish = finish;
        if (finish.mocked === true) mock = true;
      }
      const sections: Record<string, number> = {};
      for (const [k, ms] of sectionMs) if (ms >= 1000) sections[k] = Math.min(Math.floor(ms / 1000), MAX_DURATION_S);
      return {
        // At most a day (the server's bound): a form left open longer says nothing more.
        duration_s: Math.min(Math.floor(totalMs / 1000), MAX_DURATION_S),
        sections,
        answer_changes: changes,
        gps_start: gpsStart,
        gps_finish: gpsFinish,
        mock_location: mock ? true : null,
      };
    },
  };
}
