// The app's calls into Rust (`src-tauri`, which delegates each to verivali-field's FieldApp).
// Screens receive an `Api`, so unit tests give them a fake one.
import { invoke } from "@tauri-apps/api/core";

// The data types are generated from the Rust ones (ts-rs): a field renamed in Rust fails
// `tsc` here instead of drifting. See crates/field/tests/field/ts_types.rs.
export type * from "./generated/types";
import type {
  DraftState, HouseholdDetail, HouseholdFields, HouseholdQuery, OpenVisit, Progress, Questionnaire, RtGroup, Status,
  SyncDone, SyncState, VisitRecord, AppError,
} from "./generated/types";

export interface Api {
  status(): Promise<Status>;
  defaultServer(): Promise<string>;
  setLang(lang: string): Promise<Status>;
  /** `newPassword` replaces a one-time password from an admin's reset (the first try answers
   * `auth.password_change_required`). */
  signIn(server: string, username: string, password: string, pin: string, newPassword?: string): Promise<Status>;
  unlock(pin: string): Promise<Status>;
  /** Signs in again while unlocked, keeping the store and its queued work. */
  renewSession(password: string, newPassword?: string): Promise<Status>;
  lock(): Promise<Status>;
  signOut(): Promise<Status>;
  assignments(query: Partial<HouseholdQuery>): Promise<RtGroup[]>;
  progress(): Promise<Progress>;
  household(id: string): Promise<HouseholdDetail>;
  /** The active questionnaire, or the `version` a draft was begun on. */
  questionnaire(version?: number): Promise<Questionnaire>;
  openVisit(householdId: string): Promise<OpenVisit>;
  /** Proposes a household not in the baseline (usulan baru); answers its id. */
  proposeHousehold(fields: HouseholdFields, kodeDesa: string): Promise<string>;
  saveDraft(visit: VisitRecord): Promise<DraftState>;
  /** Throws away a draft never sent; true when its household (given away) left the phone. */
  discardDraft(visitId: string): Promise<boolean>;
  finishVisit(visit: VisitRecord): Promise<number>;
  /** Stores a photo's bytes (raw binary IPC); Rust makes it upright, ≤ 1280 px, ≤ 250 KB and
   * strips its metadata. Returns its SHA-256. */
  addPhoto(bytes: Uint8Array): Promise<string>;
  /** A stored photo as a small JPEG (long side `side` px). */
  photoThumbnail(sha256: string, side: number): Promise<ArrayBuffer>;
  submit(visitIds: string[]): Promise<number>;
  syncState(): Promise<SyncState>;
  syncNow(): Promise<SyncDone>;
}

export const tauriApi: Api = {
  status: () => invoke("status"),
  defaultServer: () => invoke("default_server"),
  setLang: (lang) => invoke("set_lang", { lang }),
  signIn: (server, username, password, pin, newPassword) => invoke("sign_in", { server, username, password, pin, newPassword: newPassword ?? null }),
  unlock: (pin) => invoke("unlock", { pin }),
  renewSession: (password, newPassword) => invoke("renew_session", { password, newPassword: newPassword ?? null }),
  lock: () => invoke("lock"),
  signOut: () => invoke("sign_out"),
  assignments: (query) => invoke("assignments", { query: { area: null, text: null, status: null, source: null, ...query } }),
  progress: () => invoke("progress"),
  household: (id) => invoke("household", { id }),
  questionnaire: (version) => invoke("questionnaire", { version: version ?? null }),
  openVisit: (householdId) => invoke("open_visit", { householdId }),
  proposeHousehold: (fields, kodeDesa) => invoke("propose_household", { fields, kodeDesa }),
  saveDraft: (visit) => invoke("save_draft", { visit }),
  discardDraft: (visitId) => invoke("discard_draft", { visitId }),
  finishVisit: (visit) => invoke("finish_visit", { visit }),
  addPhoto: (bytes) => invoke("add_photo", bytes),
  photoThumbnail: (sha256, side) => invoke("photo_thumbnail", { sha256, side }),
  submit: (visitIds) => invoke("submit", { visitIds }),
  syncState: () => invoke("sync_state"),
  syncNow: () => invoke("sync_now"),
};

/** An object URL for a stored photo's thumbnail, or null when it is not on this phone. */
export async function thumbnailUrl(api: Api, sha256: string, side = 160): Promise<string | null> {
  try {
    const bytes = await api.photoThumbnail(sha256, side);
    return URL.createObjectURL(new Blob([bytes], { type: "image/jpeg" }));
  } catch {
    return null;
  }
}

/** The message of whatever a call threw (an AppError from Rust, or anything else). */
export function errorMessage(e: unknown): string {
  if (e && typeof e === "object" && "message" in e) return String((e as AppError).message);
  return String(e);
}

/** Whether a call failed because an admin wiped this phone (it had sent everything first). */
export function isWiped(e: unknown): boolean {
  return (e as { code?: string } | null)?.code === "field.wiped";
}
