// The app's calls into Rust (`src-tauri`, which delegates each to verivali-field's FieldApp).
// Screens receive an `Api`, so unit tests give them a fake one.
import { invoke } from "@tauri-apps/api/core";

export type WorkStatus = "not_visited" | "draft" | "finished" | "submitted" | "approved" | "rejected";

export interface Status { signed_in: boolean; unlocked: boolean; username: string | null; attempts_left: number; locked_until: string | null; lang: string }
export interface HouseholdRow { id: string; id_dtsen: string | null; no_kk: string | null; nama_krt: string; alamat: string; desil: number | null; members: number; status: WorkStatus; proposed: boolean }
export interface RtGroup { kode_desa: string; rw: string; rt: string; households: HouseholdRow[] }
export interface Member { member_id: string; nik: string | null; name: string; sex: "L" | "P"; birth_place: string | null; birth_date: string | null; relationship: number; status: string }
export interface Household { id: string; id_dtsen: string | null; no_kk: string | null; nama_krt: string; alamat: string; rt: string; rw: string; kode_desa: string; desil: number | null; version: number }
export interface Review { visit_id: string; decision: string; reason: string | null; at: string }
export interface VisitSummary { visit_id: string; revision: number; outcome: string; state: string; finished: boolean; started_at: string; updated_at: string; reviews: Review[] }
export interface HouseholdDetail { household: Household; proposed: boolean; status: WorkStatus; members: Member[]; visits: VisitSummary[] }
export interface Gps { lat: number; lon: number; accuracy_m: number; at: string }
export interface VisitRecord {
  visit_id: string; household_id: string; baseline_version: number; revision: number; outcome: string;
  outcome_reason: string | null; reference_household_id: string | null;
  household: { no_kk: string | null; nama_krt: string; alamat: string; rt: string; rw: string; kode_desa: string };
  members: Member[]; questionnaire_version: number; answers: Record<string, unknown>; gps: Gps | null;
  photos: string[]; started_at: string; finished_at: string | null;
}
export interface Issue { code: string; at: string; message: string; error: boolean }
export interface DraftState { issues: Issue[]; relevant: string[] }
export interface OpenVisit { record: VisitRecord; state: string; finished: boolean; draft: DraftState }
export interface Text { id: string; en: string }
export interface Question { id: string; type: string; label: Text; required?: boolean; min?: number; max?: number; unit?: string; choices?: { code: string; label: Text }[] }
export interface Questionnaire { id: string; version: number; title: Text; sections: { id: string; title: Text; questions: Question[] }[] }
export interface AttentionItem { op_id: string; seq: number; op_type: string; entity_id: string; code: string; message: string }
export interface SyncState {
  outbox: { pending_ops: number; pending_visits: number; pending_batches: number; acked_through: number; needs_attention: number };
  last_sync: string | null; needs_attention: AttentionItem[];
  inbox: { household_id: string; nama_krt: string; visit_id: string; reason: string }[];
  ready: { visit_id: string; household_id: string; nama_krt: string }[];
}
export interface SyncDone { acked: number; rejected: number; photos: number; pulled: number }
export interface AppError { code: string; message: string; issues?: Issue[] }

export interface Api {
  status(): Promise<Status>;
  defaultServer(): Promise<string>;
  setLang(lang: string): Promise<Status>;
  signIn(server: string, username: string, password: string, pin: string): Promise<Status>;
  unlock(pin: string): Promise<Status>;
  lock(): Promise<Status>;
  signOut(): Promise<Status>;
  assignments(query: { area?: string | null; text?: string | null; status?: string | null }): Promise<RtGroup[]>;
  progress(): Promise<{ done: number; total: number }>;
  household(id: string): Promise<HouseholdDetail>;
  questionnaire(): Promise<Questionnaire>;
  openVisit(householdId: string): Promise<OpenVisit>;
  saveDraft(visit: VisitRecord): Promise<DraftState>;
  finishVisit(visit: VisitRecord): Promise<number>;
  addPhoto(base64: string, mime: string): Promise<string>;
  submit(visitIds: string[]): Promise<number>;
  syncState(): Promise<SyncState>;
  syncNow(): Promise<SyncDone>;
}

export const tauriApi: Api = {
  status: () => invoke("status"),
  defaultServer: () => invoke("default_server"),
  setLang: (lang) => invoke("set_lang", { lang }),
  signIn: (server, username, password, pin) => invoke("sign_in", { server, username, password, pin }),
  unlock: (pin) => invoke("unlock", { pin }),
  lock: () => invoke("lock"),
  signOut: () => invoke("sign_out"),
  assignments: (query) => invoke("assignments", { query: { area: null, text: null, status: null, ...query } }),
  progress: () => invoke("progress"),
  household: (id) => invoke("household", { id }),
  questionnaire: () => invoke("questionnaire"),
  openVisit: (householdId) => invoke("open_visit", { householdId }),
  saveDraft: (visit) => invoke("save_draft", { visit }),
  finishVisit: (visit) => invoke("finish_visit", { visit }),
  addPhoto: (base64, mime) => invoke("add_photo", { base64, mime }),
  submit: (visitIds) => invoke("submit", { visitIds }),
  syncState: () => invoke("sync_state"),
  syncNow: () => invoke("sync_now"),
};

/** The message of whatever a call threw (an AppError from Rust, or anything else). */
export function errorMessage(e: unknown): string {
  if (e && typeof e === "object" && "message" in e) return String((e as AppError).message);
  return String(e);
}
