// Generated from the Rust types by crates/field/tests/field/ts_types.rs; do not edit.
// VERIVALI_BLESS=1 cargo test -p verivali-field --test field ts_types rewrites it.

export type Household = { 
/**
 * UUIDv7, made by the server at import (or by the device for a proposal).
 */
id: string, 
/**
 * Registry id, data not a key; absent for new proposals.
 */
id_dtsen: string | null, 
/**
 * 10-digit desa/kelurahan code.
 */
kode_desa: string, 
/**
 * Welfare decile from BPS (1 poorest – 10); read-only.
 */
desil: number | null, 
/**
 * Baseline version, raised by the server whenever an approved visit changes it.
 */
version: number, 
/**
 * No. KK; changes on moves, deaths and splits. `None` when not shown.
 */
no_kk: string | null, 
/**
 * Name of the head of household. A proposal may leave it out (or send `null`): it reads as
 * empty.
 */
nama_krt: string, alamat: string, rt: string, rw: string, };

export type MemberExit = { 
/**
 * The day of death or of the move.
 */
date: string | null, 
/**
 * SHA-256 of the document photo, one of the visit's photos.
 */
document_photo: string | null, 
/**
 * Why there is no document (a death at home, the akta not issued yet…).
 */
no_document_reason: string | null, 
/**
 * Kemendagri code of the desa moved to, when known.
 */
destination_desa: string | null, };

export type HouseholdFields = { 
/**
 * No. KK; changes on moves, deaths and splits. `None` when not shown.
 */
no_kk: string | null, 
/**
 * Name of the head of household. A proposal may leave it out (or send `null`): it reads as
 * empty.
 */
nama_krt: string, alamat: string, rt: string, rw: string, };

export type HouseholdFound = { 
/**
 * 10-digit desa code.
 */
kode_desa: string, 
/**
 * No. KK; changes on moves, deaths and splits. `None` when not shown.
 */
no_kk: string | null, 
/**
 * Name of the head of household. A proposal may leave it out (or send `null`): it reads as
 * empty.
 */
nama_krt: string, alamat: string, rt: string, rw: string, };

export type Member = { 
/**
 * Member id (UUIDv7).
 */
member_id: string, 
/**
 * NIK, when known.
 */
nik: string | null, 
/**
 * Full name.
 */
name: string, sex: Sex, birth_place?: string | null, birth_date: string | null, 
/**
 * Relationship to the head.
 */
relationship: number, 
/**
 * Presence status.
 */
status: PresenceStatus, 
/**
 * How a member who died or moved out left, with its evidence (DESIGN.md §12). Absent on
 * everyone else, and on a death or move recorded before the update cycle.
 */
exit?: MemberExit, };

export type Sex = "L" | "P";

export type PresenceStatus = "tinggal" | "meninggal" | "pindah" | "anggota_baru" | "kesalahan_prelist" | "tidak_ditemukan";

export type VisitRecord = { 
/**
 * Visit id (UUIDv7 made on the device).
 */
visit_id: string, 
/**
 * The household visited (or proposed, for `usulan_baru`).
 */
household_id: string, 
/**
 * Baseline version the enumerator saw (0 for a proposed household).
 */
baseline_version: number, 
/**
 * Revision, from 1, raised on every re-record of the visit.
 */
revision: number, outcome: Outcome, 
/**
 * Reason, for `tidak_ditemukan`.
 */
outcome_reason: NotFoundReason | null, 
/**
 * Referenced household, for `ganda` and `bagian_ruta_lain`.
 */
reference_household_id: string | null, 
/**
 * Household fields as found.
 */
household: HouseholdFound, 
/**
 * Members as found.
 */
members: Array<Member>, 
/**
 * Questionnaire version the answers follow.
 */
questionnaire_version: number, 
/**
 * Answers, question id -> value.
 */
answers: { [key in string]?: JsonValue }, 
/**
 * GPS fix, when one was taken.
 */
gps: Gps | null, 
/**
 * SHA-256 of each photo.
 */
photos: Array<string>, 
/**
 * What each photo shows, by SHA-256. A photo without an entry is `lainnya`: devices before
 * kinds sent none, and their visits stay valid.
 */
photo_kinds?: { [key in string]?: PhotoKind }, 
/**
 * Why the visit has no GPS fix or no photo, in the enumerator's words ("HP tidak dapat
 * sinyal GPS di dalam gang"); the field app asks for it before finishing without them, and
 * the supervisor sees it. Absent from older devices.
 */
evidence_note?: string | null, 
/**
 * When the visit started.
 */
started_at: string, 
/**
 * When it was finished; `None` while it is a draft.
 */
finished_at: string | null, 
/**
 * How the visit was made (DESIGN.md §11), measured by the device; absent from older devices.
 */
paradata?: Paradata | null, 
/**
 * The household graduated from aid, with its letter (DESIGN.md §12); only on a household
 * found.
 */
graduation?: Graduation, };

export type Outcome = "ditemukan" | "tidak_ditemukan" | "menolak" | "ganda" | "bagian_ruta_lain" | "usulan_baru";

export type NotFoundReason = "pindah" | "meninggal" | "tidak_tahu" | "alamat_tidak_ada";

export type Gps = { 
/**
 * Latitude, degrees.
 */
lat: number, 
/**
 * Longitude, degrees.
 */
lon: number, 
/**
 * Accuracy radius, metres.
 */
accuracy_m: number, 
/**
 * When the fix was taken.
 */
at: string, 
/**
 * Whether the platform marked the fix as coming from a mock-location app (Android's
 * `Location.isMock`). Absent where the platform does not say (desktop webviews, older
 * devices). Kept for the supervisor and the quality checks: a mocked fix only warns, since a
 * refusal would lose the visit and teach nothing.
 */
mocked?: boolean | null, };

export type Paradata = { 
/**
 * Seconds the form was in the foreground, over every session of the visit.
 */
duration_s: number, 
/**
 * Foreground seconds per questionnaire section (section id → seconds).
 */
sections: { [key in string]?: number }, 
/**
 * Answers changed after they were first given.
 */
answer_changes: number, 
/**
 * The first fix of the visit (usually taken on arrival).
 */
gps_start?: Gps | null, 
/**
 * The fix when the visit was finished.
 */
gps_finish?: Gps | null, 
/**
 * Whether the platform reported any fix of the visit as mocked.
 */
mock_location?: boolean | null, };

export type Graduation = { kind: GraduationKind, 
/**
 * SHA-256 of the letter's photo, one of the visit's photos.
 */
letter_photo: string | null, };

export type GraduationKind = "mandiri" | "alami" | "paksa";

export type VisitState = "draft" | "submitted" | "approved" | "rejected" | "superseded" | "verified" | "returned";

export type WorkStatus = "not_visited" | "draft" | "finished" | "submitted" | "approved" | "rejected";

export type Decision = "approve" | "reject" | "reopen" | "supersede" | "verify" | "return";

export type ReviewEvent = { 
/**
 * The visit decided on.
 */
visit_id: string, decision: Decision, 
/**
 * Why (required for reject and reopen).
 */
reason: string | null, 
/**
 * Who decided (user id).
 */
reviewer: string, 
/**
 * When.
 */
at: string, };

export type Questionnaire = { 
/**
 * Questionnaire id (`dtsen-ruta`).
 */
id: string, 
/**
 * Version; visits name the version they followed.
 */
version: number, title: Text, 
/**
 * Sections in order.
 */
sections: Array<Section>, };

export type Section = { 
/**
 * Section id.
 */
id: string, title: Text, 
/**
 * Questions in order.
 */
questions: Array<Question>, };

export type Question = { 
/**
 * Stable id (answers key).
 */
id: string, 
/**
 * Answer type.
 */
type: QuestionType, 
/**
 * The question as asked.
 */
label: Text, 
/**
 * Must be answered (when relevant and the outcome needs answers).
 */
required: boolean, 
/**
 * Lower bound for numbers, or earliest date (`YYYY-MM-DD`) for dates.
 */
min?: JsonValue | null, 
/**
 * Upper bound, as `min`.
 */
max?: JsonValue | null, 
/**
 * Maximum text length in characters.
 */
max_length?: number | null, 
/**
 * Unit shown after the input (m², VA…).
 */
unit?: string | null, 
/**
 * Choices, for choice questions.
 */
choices?: Array<Choice>, 
/**
 * Relevance rule; always relevant when absent.
 */
relevant?: Relevance | null, };

export type QuestionType = "int" | "decimal" | "text" | "single_choice" | "multi_choice" | "date" | "yes_no";

export type Choice = { 
/**
 * Code stored in answers.
 */
code: string, label: Text, };

export type Relevance = { 
/**
 * The question whose answer decides.
 */
question: string, 
/**
 * Answers that make this question apply.
 */
any_of: Array<JsonValue>, };

export type Text = { 
/**
 * Bahasa Indonesia.
 */
id: string, 
/**
 * English.
 */
en: string, };

export type AssignmentSource = "baseline" | "groundcheck" | "usulan" | "sanggah" | "laporan_kematian" | "lainnya";

export type Terms = { 
/**
 * `YYYY-MM-DD`.
 */
due_date: string | null, source: AssignmentSource, note: string | null, };

export type Match = { 
/**
 * 1 (exact) to 6 (words anywhere); lower is better.
 */
tier: number, field: MatchField, 
/**
 * The matched field's text.
 */
text: string, };

export type MatchField = "head" | "member" | "nik" | "no_kk" | "id_dtsen" | "address" | "words";

export type JsonValue = number | string | boolean | Array<JsonValue> | { [key in string]?: JsonValue } | null;

export type HouseholdQuery = { 
/**
 * Region-code prefix (desa or larger); all when absent.
 */
area: string | null, 
/**
 * Search words.
 */
text: string | null, 
/**
 * Only households in this status.
 */
status: WorkStatus | null, 
/**
 * Only households given to the enumerator for this reason (`Laporan kematian`, `Sanggah`…).
 */
source: AssignmentSource | null, };

export type HouseholdRow = { 
/**
 * Household id.
 */
id: string, 
/**
 * Registry id.
 */
id_dtsen: string | null, no_kk: string | null, 
/**
 * Head's name.
 */
nama_krt: string, 
/**
 * Address.
 */
alamat: string, desil: number | null, 
/**
 * Number of members in the baseline.
 */
members: number, 
/**
 * Work status.
 */
status: WorkStatus, 
/**
 * Proposed on this device (usulan baru).
 */
proposed: boolean, 
/**
 * Given to this enumerator by name, with when it is due and why; `None` when shared.
 */
assignment: Terms | null, 
/**
 * Given to another enumerator: kept here only until the work begun on it is finished and
 * sent (or its draft discarded).
 */
withdrawn: boolean, 
/**
 * Why a search found it ("anggota: Dwi Rahayu"); `None` without a search.
 */
matched: Match | null, };

export type RtGroup = { 
/**
 * Desa code.
 */
kode_desa: string, 
/**
 * The desa's name, when the server has one ("Desa Sukamaju").
 */
nama_desa: string | null, rw: string, rt: string, 
/**
 * Households: the enumerator's own first (soonest due first, then those without a date),
 * then the shared ones, each by head's name.
 */
households: Array<HouseholdRow>, };

export type HouseholdDetail = { 
/**
 * Baseline data.
 */
household: Household, 
/**
 * Proposed on this device.
 */
proposed: boolean, 
/**
 * Given to another enumerator; see [`HouseholdRow::withdrawn`].
 */
withdrawn: boolean, 
/**
 * Work status.
 */
status: WorkStatus, 
/**
 * Baseline members (head first).
 */
members: Array<Member>, 
/**
 * Visits, newest first.
 */
visits: Array<VisitSummary>, };

export type VisitSummary = { visit_id: string, 
/**
 * Last recorded revision (0: never recorded).
 */
revision: number, outcome: Outcome, 
/**
 * Review state.
 */
state: VisitState, 
/**
 * Recorded since its last edit.
 */
finished: boolean, started_at: string, 
/**
 * Last change on the device.
 */
updated_at: string, 
/**
 * Review decisions, oldest first.
 */
reviews: Array<ReviewEvent>, 
/**
 * Server rejections of its ops.
 */
attention: Array<AttentionItem>, 
/**
 * Its photos with what each shows, in the order taken.
 */
photos: Array<PhotoRef>, };

export type PhotoRef = { sha256: string, kind: PhotoKind, };

export type PhotoKind = "depan" | "dalam" | "dokumen" | "lainnya";

export type OutboxCounts = { 
/**
 * Ops waiting.
 */
pending_ops: number, 
/**
 * Distinct visits with a waiting `visit.record`.
 */
pending_visits: number, 
/**
 * Waiting `batch.submit` ops.
 */
pending_batches: number, 
/**
 * Highest seq the server acknowledged.
 */
acked_through: number, 
/**
 * Rejected ops not yet dealt with.
 */
needs_attention: number, };

export type SentVisit = { visit_id: string, household_id: string, 
/**
 * Its head.
 */
nama_krt: string, 
/**
 * Review state on this device.
 */
state: VisitState, 
/**
 * When the server acknowledged its last record (server time).
 */
received_at: string, 
/**
 * When the server acknowledged its submission to the supervisor.
 */
submitted_at: string | null, };

export type SyncLogEntry = { 
/**
 * When it ended (device time).
 */
at: string, 
/**
 * Whether it completed.
 */
ok: boolean, 
/**
 * Ops the server acknowledged.
 */
ops_up: number, 
/**
 * Photos uploaded.
 */
photos_up: number, 
/**
 * Changes pulled.
 */
pulled: number, 
/**
 * Why it stopped, when it failed: a stable code and a message in the app's language.
 */
code: string | null, message: string | null, };

export type AttentionItem = { 
/**
 * The op.
 */
op_id: string, 
/**
 * Its seq.
 */
seq: number, 
/**
 * Its type.
 */
op_type: string, 
/**
 * The visit, household or batch.
 */
entity_id: string, 
/**
 * Server's code.
 */
code: string, 
/**
 * Server's message.
 */
message: string, 
/**
 * Field, when given.
 */
field: string | null, 
/**
 * When the rejection arrived.
 */
at: string, };

export type Status = { 
/**
 * A store exists (the device was signed in once).
 */
signed_in: boolean, 
/**
 * The store is unlocked.
 */
unlocked: boolean, 
/**
 * The signed-in user.
 */
username: string | null, 
/**
 * Wrong PINs left before a lock.
 */
attempts_left: number, 
/**
 * Locked until (RFC 3339), after too many wrong PINs.
 */
locked_until: string | null, 
/**
 * `id` or `en`.
 */
lang: string, };

export type AppError = { 
/**
 * Stable code (`store.wrong_pin`, `field.locked`, `visit.nik_format`…).
 */
code: string, 
/**
 * For people.
 */
message: string, 
/**
 * Validation issues, when the error is an invalid visit.
 */
issues?: Array<Issue>, };

export type Issue = { 
/**
 * Stable code.
 */
code: string, 
/**
 * Where (`household.alamat`, `members[2].nik`, `answers.luas_lantai`).
 */
at: string, 
/**
 * For people.
 */
message: string, 
/**
 * An error (blocks finishing) or a warning.
 */
error: boolean, };

export type DraftState = { 
/**
 * Errors and warnings.
 */
issues: Array<Issue>, 
/**
 * Ids of the questions that apply to the answers so far.
 */
relevant: Array<string>, };

export type OpenVisit = { 
/**
 * The record as saved.
 */
record: VisitRecord, 
/**
 * Review state.
 */
state: VisitState, 
/**
 * Finished (recorded) at least once.
 */
finished: boolean, 
/**
 * The draft's validation and relevant questions.
 */
draft: DraftState, 
/**
 * Why the supervisor sent it back (the amend form shows it at its top).
 */
returned_reason: string | null, };

export type SyncState = { 
/**
 * Queued work.
 */
outbox: OutboxCounts, 
/**
 * Last complete sync.
 */
last_sync: string | null, 
/**
 * Rejected ops with the server's reasons.
 */
needs_attention: Array<AttentionItem>, 
/**
 * Visits sent back by a supervisor.
 */
inbox: Array<InboxItem>, 
/**
 * Finished visits not yet submitted (to choose for a batch).
 */
ready: Array<ReadyVisit>, 
/**
 * Visits the server received, newest first, with when.
 */
received: Array<SentVisit>, 
/**
 * The last syncs, newest first: what went up and down, or why one stopped.
 */
log: Array<SyncLogEntry>, };

export type InboxItem = { household_id: string, 
/**
 * Its head.
 */
nama_krt: string, 
/**
 * The visit.
 */
visit_id: string, 
/**
 * The supervisor's reason.
 */
reason: string, };

export type ReadyVisit = { 
/**
 * The visit.
 */
visit_id: string, household_id: string, 
/**
 * Its head.
 */
nama_krt: string, };

export type SyncDone = { 
/**
 * Ops the server acknowledged.
 */
acked: number, 
/**
 * Of which rejected.
 */
rejected: number, 
/**
 * Photos uploaded.
 */
photos: number, 
/**
 * Changes pulled.
 */
pulled: number, 
/**
 * Households that left this phone (given to a colleague); the phone keeps any it holds
 * visits of, so they are not counted.
 */
removed: number, };

export type Progress = { 
/**
 * Finished, submitted or approved.
 */
done: number, 
/**
 * Assigned.
 */
total: number, 
/**
 * The open period's cut-off, from [`verivali_domain::cycle::WARN_DAYS`] days before it to
 * the day itself (judged on the phone's clock, so it warns offline too).
 */
cutoff?: CutoffNote, };

export type CutoffNote = { 
/**
 * The period, e.g. `2026-12`.
 */
period: string, 
/**
 * `YYYY-MM-DD`.
 */
cutoff: string, 
/**
 * Days left: 0 on the cut-off day.
 */
days_left: number, };
