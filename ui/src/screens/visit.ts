// The visit form: outcome, household, members (live NIK checks), the questionnaire rendered from
// its schema (relevance and validation come back from Rust with every autosave), GPS, photo, and
// finishing. A yes/no or a choice among at most six is a row of big buttons (one tap). Every change is saved as a draft 400 ms after the last keystroke, and at once when
// the screen is left, the app locked or sent to the background (`ctx.onLeave`), so no debounce
// window loses input. A running sync never delays a save (Rust holds the store per call only).
// Each message shows under its own question, in words; a bar at the bottom counts what is
// wrong and jumps to the next one, so the page never jumps by itself.
import type { DraftState, GraduationKind, Issue, Member, NotFoundReason, Outcome, PhotoKind, PresenceStatus, Question, VisitRecord } from "../api";
import { errorMessage, thumbnailUrl } from "../api";
import type { Ctx } from "../app";
import { h, toast } from "../dom";
import { lang, t } from "../i18n";
import { label as termLabel, options, outcomeTerm, vocab } from "../vocabulary";
import { tracker } from "../paradata";

/** Issues whose path is `at` or lies under it (`members[1]` covers `members[1].nik`). */
export function issuesAt(issues: Issue[], at: string): Issue[] {
  return issues.filter((i) => i.at === at || i.at.startsWith(`${at}.`) || i.at.startsWith(`${at}[`));
}

/** A form value as the questionnaire type wants it. */
export function answerValue(q: Question, raw: string | string[] | boolean): unknown {
  if (q.type === "multi_choice") return Array.isArray(raw) ? raw : [raw];
  if (q.type === "yes_no") return raw === "" ? null : raw === true || raw === "true";
  if (raw === "") return null;
  if (q.type === "int") return Number.isInteger(Number(raw)) ? Number(raw) : raw;
  if (q.type === "decimal") return Number.isFinite(Number(raw)) ? Number(raw) : raw;
  return raw;
}

/** A single choice with at most this many choices is a row of buttons (one tap); more, a select. */
export const QUICK_CHOICES = 6;

/** Big buttons for one choice among a few: one tap answers, a tap on the chosen one clears it
 * (`pick("")`). `now` reads the current answer's code, so the marks follow what was stored. */
export function choiceButtons(choices: [string, string][], now: () => string | null, pick: (code: string) => void,
  cls: string, attrs: Record<string, string | boolean>): HTMLElement {
  const group = h("div", { class: cls, role: "radiogroup", ...attrs });
  const paint = () => { for (const b of group.querySelectorAll("button")) b.setAttribute("aria-checked", String(b.getAttribute("value") === now())); };
  for (const [code, text] of choices) {
    group.append(h("button", { type: "button", role: "radio", value: code, disabled: attrs.disabled === true, onclick: () => {
      pick(now() === code ? "" : code);
      paint();
    } }, text));
  }
  paint();
  return group;
}

export async function visitScreen(ctx: Ctx, householdId: string): Promise<HTMLElement> {
  // The form of the version the visit follows: a draft begun before a new version was published
  // is finished on its own.
  const open = await ctx.api.openVisit(householdId);
  const qn = await ctx.api.questionnaire(open.record.questionnaire_version);
  const v: VisitRecord = open.record;
  let draft: DraftState = open.draft;
  const editable = open.state === "draft" || open.state === "rejected";
  const status = h("p", { id: "save-status", class: "muted", role: "status" });
  const summary = h("p", { id: "issues", class: "issues-bar", role: "status" });
  const nextWrong = h("button", { type: "button", class: "quiet", id: "next-issue", hidden: true, onclick: () => jumpToNextIssue() }, t("visit.next_issue"));
  const slots = new Map<string, HTMLElement>();
  const slot = (at: string) => { const el = h("p", { class: "field-issue", "data-at": at }); slots.set(at, el); return el; };
  const questionRows = new Map<string, HTMLElement>();

  // A wrong value shows at once; "required" only once the field was left empty or finishing was
  // tried, so a blank form is not a wall of red.
  let tried = false;
  const shown = () => draft.issues.filter((i) => (tried || touched.has(i.at) || !i.code.endsWith("required")) && visibleAt(i.at));
  const touched = new Set<string>();
  const visibleAt = (at: string) => !slots.get(at)?.closest("[hidden]");
  let paint = () => {
    for (const [id, row] of questionRows) row.hidden = !draft.relevant.includes(id);
    for (const [at, el] of slots) {
      const mine = shown().filter((i) => i.at === at);
      el.textContent = mine.map((i) => i.message).join(" · ");
      el.classList.toggle("warn", mine.length > 0 && mine.every((i) => !i.error));
      el.closest(".field")?.classList.toggle("invalid", mine.some((i) => i.error));
    }
    const errors = shown().filter((i) => i.error).length;
    summary.textContent = errors ? t("visit.issues", { n: errors }) : "";
    nextWrong.hidden = errors === 0;
  };
  const jumpToNextIssue = () => {
    const wrong = [...slots.values()].filter((el) => el.textContent && !el.classList.contains("warn"));
    const after = wrong.find((el) => el.getBoundingClientRect().top > 80) ?? wrong[0];
    const control = after?.closest(".field")?.querySelector<HTMLElement>("input, select, textarea, button");
    after?.scrollIntoView({ block: "center" });
    control?.focus({ preventScroll: true });
  };
  // Paradata: foreground time, time per section, answer changes, fixes (../paradata.ts). The
  // clock runs only while this form is on screen and the app visible.
  const para = tracker(v.paradata);
  const onVisibility = () => { if (document.visibilityState === "hidden") para.pause(); else para.resume(); };
  if (editable) {
    if (document.visibilityState !== "hidden") para.resume();
    document.addEventListener("visibilitychange", onVisibility);
  }
  let timer = 0;
  let waiting = false;
  let saving: Promise<void> = Promise.resolve();
  const saveNow = () => {
    waiting = false;
    window.clearTimeout(timer);
    if (editable) v.paradata = para.snapshot();
    saving = saving.then(() => ctx.api.saveDraft(v)).then((d) => { draft = d; paint(); status.textContent = t("visit.saved"); },
      (e) => { status.textContent = errorMessage(e); });
    return saving;
  };
  const save = () => {
    if (!editable) return;
    status.textContent = t("visit.saving");
    waiting = true;
    window.clearTimeout(timer);
    timer = window.setTimeout(() => void saveNow(), 400);
  };
  // Leaving, locking or going to the background saves what the debounce still holds (registered
  // below, with the GPS watch's end).
  const field = (label: string, control: HTMLElement, at: string) => {
    control.addEventListener("blur", () => { touched.add(at); paint(); });
    return h("label", { class: "field" }, label, control, slot(at));
  };
  const text = (value: string | null, set: (s: string) => void, attrs: Record<string, string> = {}) => {
    const el = h("input", { value: value ?? "", disabled: !editable, ...attrs }) as HTMLInputElement;
    el.addEventListener("input", () => { set(el.value); save(); });
    return el;
  };
  const select = (options: [string, string][], value: string | null, set: (s: string) => void, attrs: Record<string, string> = {}) => {
    const el = h("select", { disabled: !editable, ...attrs }, options.map(([val, label]) => h("option", { value: val, selected: val === (value ?? "") }, label))) as HTMLSelectElement;
    el.addEventListener("change", () => { set(el.value); save(); });
    return el;
  };

  // Outcome and its reason or reference.
  const outcomeExtra = h("div");
  const paintOutcome = () => {
    outcomeExtra.replaceChildren(
      outcomeTerm(v.outcome)?.needs_reason ? field(t("visit.reason"), select([["", "—"], ...options(vocab.outcome_reasons)], v.outcome_reason, (s) => { v.outcome_reason = (s || null) as NotFoundReason | null; }, { id: "outcome-reason" }), "outcome_reason") : "",
      outcomeTerm(v.outcome)?.needs_reference ? field(t("visit.reference"), text(v.reference_household_id, (s) => { v.reference_household_id = s || null; }, { id: "reference" }), "reference_household_id") : "");
  };
  paintOutcome();
  // A proposed household (not yet in the baseline) is visited as usulan baru, and only it.
  const proposal = v.baseline_version === 0;
  const offered = options(vocab.outcomes).filter(([code]) => (code === "usulan_baru") === proposal);
  // Outcomes that need no answers (not found, refused, duplicate…) show only what they need:
  // the reason or reference, GPS and photos.
  const answerParts: HTMLElement[] = [];
  // (the step line is redrawn with them, below)
  let paintParts = () => { for (const el of answerParts) el.hidden = !outcomeTerm(v.outcome)?.needs_answers; };
  const outcome = field(t("visit.outcome"), select(offered, v.outcome, (s) => {
    v.outcome = s as Outcome; v.outcome_reason = null; v.reference_household_id = null;
    // Only a household found graduates.
    if (v.outcome !== "ditemukan") v.graduation = undefined;
    paintOutcome(); paintParts(); paintGraduation();
  }, { id: "outcome" }), "outcome");

  // Household as found.
  const hf = v.household;
  const household = h("fieldset", {}, h("legend", {}, t("visit.household")),
    field(termLabel(vocab.household_fields, "no_kk"), text(hf.no_kk, (s) => { hf.no_kk = s || null; }, { id: "no_kk", inputmode: "numeric" }), "household.no_kk"),
    field(termLabel(vocab.household_fields, "nama_krt"), text(hf.nama_krt, (s) => { hf.nama_krt = s; }, { id: "nama_krt" }), "household.nama_krt"),
    field(termLabel(vocab.household_fields, "alamat"), text(hf.alamat, (s) => { hf.alamat = s; }, { id: "alamat" }), "household.alamat"),
    h("div", { class: "row" },
      field(termLabel(vocab.household_fields, "rt"), text(hf.rt, (s) => { hf.rt = s; }, { id: "rt", inputmode: "numeric" }), "household.rt"),
      field(termLabel(vocab.household_fields, "rw"), text(hf.rw, (s) => { hf.rw = s; }, { id: "rw", inputmode: "numeric" }), "household.rw")));

  // Graduation from aid (graduasi), for a household found: how, and the photo of its letter
  // among the visit's photos (drawn again when photos change).
  const gradBox = h("fieldset", { id: "graduation" });
  const paintGraduation = () => {
    gradBox.hidden = v.outcome !== "ditemukan";
    const g = v.graduation;
    const photos: [string, string][] = v.photos.map((sha) => [sha, `${termLabel(vocab.photo_kinds, v.photo_kinds?.[sha] ?? "lainnya")} …${sha.slice(-6)}`]);
    gradBox.replaceChildren(h("legend", {}, t("visit.graduation")),
      field(t("visit.graduation_kind"), select([["", t("visit.graduation_none")], ...options(vocab.graduation_kinds)], g?.kind ?? "", (s) => {
        v.graduation = s ? { kind: s as GraduationKind, letter_photo: v.graduation?.letter_photo ?? null } : undefined;
        paintGraduation();
      }, { id: "graduation-kind" }), "graduation"),
      g ? field(t("visit.graduation_letter"), select([["", "—"], ...photos], g.letter_photo ?? "", (s) => { g.letter_photo = s || null; }, { id: "graduation-letter" }), "graduation.letter_photo") : "");
  };
  paintGraduation();
  household.append(gradBox);

  // Members.
  const memberList = h("div", { id: "member-list" });
  const paintMembers = () => memberList.replaceChildren(...v.members.map((m, i) => memberCard(m, i)));
  // A member added in this visit by mistake can be removed; members of the baseline cannot (their
  // status says what became of them: moved, died…).
  const baselineMembers = new Set((await ctx.api.household(householdId).catch(() => null))?.members.map((m) => m.member_id) ?? v.members.map((m) => m.member_id));
  const added = (m: Member) => !baselineMembers.has(m.member_id);
  // How a member left, with its evidence (verivali-domain MemberExit): a death's date and the
  // photo of its document (one of this visit's photos) or why there is none; a move's date and
  // destination desa when known. The rules and their messages come back from Rust.
  const exitFields = (m: Member, i: number) => {
    if (m.status !== "meninggal" && m.status !== "pindah") return null;
    const x = (m.exit ??= { date: null, document_photo: null, no_document_reason: null, destination_desa: null });
    const at = (k: string) => `members[${i}].exit.${k}`;
    const date = field(t(m.status === "meninggal" ? "visit.death_date" : "visit.move_date"), text(x.date, (s) => { x.date = s || null; }, { type: "date", class: "exit-date" }), at("date"));
    if (m.status === "pindah") {
      return h("div", { class: "exit" }, date,
        field(t("visit.destination_desa"), text(x.destination_desa, (s) => { x.destination_desa = s || null; }, { class: "exit-desa", inputmode: "numeric", maxlength: "10" }), at("destination_desa")));
    }
    const photos: [string, string][] = v.photos.map((sha) => [sha, `${termLabel(vocab.photo_kinds, v.photo_kinds?.[sha] ?? "lainnya")} …${sha.slice(-6)}`]);
    return h("div", { class: "exit" }, date,
      field(t("visit.death_document"), select([["", t("visit.no_document")], ...photos], x.document_photo, (s) => { x.document_photo = s || null; }, { class: "exit-photo" }), at("document_photo")),
      field(t("visit.no_document_reason"), text(x.no_document_reason, (s) => { x.no_document_reason = s || null; }, { class: "exit-reason" }), at("no_document_reason")));
  };
  const memberCard = (m: Member, i: number) => h("fieldset", { class: "member", "data-member": i },
    h("legend", {}, m.name || `#${i + 1}`),
    editable && added(m) ? h("button", { type: "button", class: "quiet danger remove-member", onclick: () => {
      v.members.splice(i, 1);
      paintMembers();
      save();
    } }, t("visit.remove_member")) : null,
    field(termLabel(vocab.member_fields, "name"), text(m.name, (s) => { m.name = s; }, { class: "member-name" }), `members[${i}].name`),
    field(termLabel(vocab.member_fields, "nik"), text(m.nik, (s) => { m.nik = s || null; }, { class: "member-nik", inputmode: "numeric", maxlength: "16" }), `members[${i}].nik`),
    h("div", { class: "row" },
      field(termLabel(vocab.member_fields, "sex"), select(options(vocab.sexes), m.sex, (s) => { m.sex = s as "L" | "P"; }, { class: "member-sex" }), `members[${i}].sex`),
      field(termLabel(vocab.member_fields, "birth_date"), text(m.birth_date, (s) => { m.birth_date = s || null; }, { type: "date", class: "member-birth" }), `members[${i}].birth_date`)),
    h("div", { class: "row" },
      field(termLabel(vocab.member_fields, "relationship"), select(options(vocab.relationships), String(m.relationship), (s) => { m.relationship = Number(s); }, { class: "member-relationship" }), `members[${i}].relationship`),
      field(termLabel(vocab.member_fields, "status"), select(options(vocab.member_statuses), m.status, (s) => {
        m.status = s as PresenceStatus;
        // Only a death or a move has an exit; the card shows its fields.
        if (m.status !== "meninggal" && m.status !== "pindah") delete m.exit;
        paintMembers();
      }, { class: "member-status" }), `members[${i}].status`)),
    exitFields(m, i));
  paintMembers();
  const addMember = h("button", { type: "button", class: "quiet", id: "add-member", disabled: !editable, onclick: () => {
    v.members.push({ member_id: crypto.randomUUID(), nik: null, name: "", sex: "L", birth_place: null, birth_date: null, relationship: 3, status: "anggota_baru" });
    paintMembers();
    save();
  } }, `+ ${t("visit.add_member")}`);

  // Questionnaire.
  const label = (x: { id: string; en: string }) => (lang() === "en" ? x.en : x.id);
  const questionControl = (q: Question): HTMLElement => {
    const cur = v.answers[q.id];
    // A typed answer is judged once it is left (each keystroke is not a change of mind); a tap
    // on a choice is a change when it replaces another answer.
    const typed = !["single_choice", "multi_choice", "yes_no"].includes(q.type);
    const set = (raw: string | string[] | boolean) => {
      const val = answerValue(q, raw);
      const before = v.answers[q.id];
      if (!typed) para.answered(before !== undefined && before !== null && (q.type !== "multi_choice" || (Array.isArray(val) && val.length <= (before as unknown[]).length)) && JSON.stringify(before) !== JSON.stringify(val));
      if (val === null) delete v.answers[q.id]; else v.answers[q.id] = val;
      save();
    };
    const attrs = { "data-question": q.id, disabled: !editable };
    if (q.type === "single_choice" && (q.choices ?? []).length <= QUICK_CHOICES) {
      // Few choices: all on screen as big buttons, one tap each (a select takes two).
      return choiceButtons((q.choices ?? []).map((c) => [c.code, label(c.label)]), () => (typeof v.answers[q.id] === "string" ? String(v.answers[q.id]) : null), set, "choice-buttons", attrs);
    }
    if (q.type === "single_choice") {
      const el = h("select", attrs, h("option", { value: "" }, "—"), (q.choices ?? []).map((c) => h("option", { value: c.code, selected: cur === c.code }, label(c.label)))) as HTMLSelectElement;
      el.addEventListener("change", () => set(el.value));
      return el;
    }
    if (q.type === "multi_choice") {
      const chosen = new Set(Array.isArray(cur) ? (cur as string[]) : []);
      return h("div", { class: "choices", ...attrs }, (q.choices ?? []).map((c) => {
        const box = h("input", { type: "checkbox", value: c.code, checked: chosen.has(c.code), disabled: !editable }) as HTMLInputElement;
        box.addEventListener("change", () => { if (box.checked) chosen.add(c.code); else chosen.delete(c.code); set([...chosen]); });
        return h("label", { class: "choice" }, box, label(c.label));
      }));
    }
    if (q.type === "yes_no") {
      // Two big buttons, one tap (a select takes two).
      const now = () => (typeof v.answers[q.id] === "boolean" ? String(v.answers[q.id]) : null);
      return choiceButtons([["true", t("visit.yes")], ["false", t("visit.no")]], now, (raw) => set(raw === "" ? "" : raw === "true"), "yes-no", attrs);
    }
    const type = q.type === "date" ? "date" : q.type === "int" || q.type === "decimal" ? "number" : "text";
    const el = h("input", { ...attrs, type, value: cur === undefined || cur === null ? "" : String(cur), inputmode: type === "number" ? "decimal" : null }) as HTMLInputElement;
    el.addEventListener("input", () => set(el.value));
    // The answer as it was when the field was entered: leaving it with another one is a change.
    let entered = "";
    el.addEventListener("focus", () => { entered = el.value; });
    el.addEventListener("change", () => { para.answered(entered !== "" && el.value !== entered); entered = el.value; });
    return el;
  };
  const sections = qn.sections.map((s) => h("fieldset", { class: "section", "data-section": s.id }, h("legend", {}, label(s.title)), s.questions.map((q) => {
    const control = questionControl(q);
    control.addEventListener("focusout", () => { touched.add(`answers.${q.id}`); paint(); });
    // A group of buttons or boxes is not wrapped in a <label>: a label hands a tap on the
    // question's text to its first button, which would answer "Ya" by mistake.
    const grouped = control.tagName === "DIV";
    const text = `${label(q.label)}${q.unit ? ` (${q.unit})` : ""}${q.required ? " *" : ""}`;
    if (grouped) control.setAttribute("aria-label", text);
    const row = h(grouped ? "div" : "label", { class: "field question", "data-row": q.id }, grouped ? h("span", { class: "question-text" }, text) : text, control, slot(`answers.${q.id}`));
    questionRows.set(q.id, row);
    return row;
  })));

  // GPS and photo.
  // GPS as people use it: the fix improves for a while (watchPosition); its accuracy shows as it
  // does, with a hint when it is worse than 20 m; the best fix is kept. Errors are in words.
  const gpsText = h("p", { id: "gps-value" }, v.gps ? t("visit.gps_value", { lat: v.gps.lat.toFixed(6), lon: v.gps.lon.toFixed(6), acc: Math.round(v.gps.accuracy_m) }) : t("visit.gps_none"));
  const gpsHint = h("p", { id: "gps-hint", class: "warn", role: "status" });
  let watch: number | null = null;
  const stopGps = () => { if (watch !== null) navigator.geolocation?.clearWatch(watch); watch = null; gps.textContent = t("visit.gps_take"); };
  const gps = h("button", { type: "button", class: "quiet", id: "gps", disabled: !editable, onclick: () => {
    if (watch !== null) { stopGps(); return; }
    if (!navigator.geolocation) { gpsText.textContent = t("visit.gps_failed", { e: t("visit.gps_unavailable") }); return; }
    gps.textContent = t("visit.gps_stop");
    gpsHint.textContent = t("visit.gps_searching");
    const started = Date.now();
    watch = navigator.geolocation.watchPosition((p) => {
      const acc = p.coords.accuracy;
      if (!v.gps || acc <= v.gps.accuracy_m || Date.now() - Date.parse(v.gps.at) > 10 * 60_000) {
        // The platform's mock-location flag where it gives one (Android's Location.isMock, passed
        // on as `mocked`); a desktop webview says nothing, and nothing is assumed.
        const mocked = (p as GeolocationPosition & { mocked?: unknown }).mocked;
        v.gps = { lat: p.coords.latitude, lon: p.coords.longitude, accuracy_m: acc, at: new Date(p.timestamp).toISOString(), mocked: typeof mocked === "boolean" ? mocked : null };
        para.fix(v.gps);
        gpsText.textContent = t("visit.gps_value", { lat: v.gps.lat.toFixed(6), lon: v.gps.lon.toFixed(6), acc: Math.round(acc) });
        save();
        paintEvidence();
      }
      gpsHint.textContent = acc > 20 ? t("visit.gps_weak", { acc: Math.round(acc) }) : "";
      if (acc <= 10 || Date.now() - started > 60_000) stopGps();
    }, (e) => {
      stopGps();
      gpsHint.textContent = "";
      gpsText.textContent = t("visit.gps_failed", { e: t(e.code === 1 ? "visit.gps_denied" : e.code === 3 ? "visit.gps_timeout" : "visit.gps_unavailable") });
    }, { enableHighAccuracy: true, timeout: 30_000, maximumAge: 0 });
  } }, t("visit.gps_take"));

  // Photos: several, each with what it shows; the kind offered next is the first one the visit
  // lacks (front, inside, document). The bytes go to Rust raw, which shrinks and strips them.
  const photoKinds: Partial<Record<string, PhotoKind>> = (v.photo_kinds ??= {});
  const kinds = vocab.photo_kinds.map((k) => String(k.code) as PhotoKind);
  const nextKind = () => kinds.find((k) => !v.photos.some((p) => (photoKinds[p] ?? "lainnya") === k)) ?? "lainnya";
  const kind = select(options(vocab.photo_kinds), nextKind(), () => {}, { id: "photo-kind" }) as HTMLSelectElement;
  const thumbs = h("ul", { id: "photos", class: "thumbs" });
  const photoCount = h("p", { id: "photo-count" }, t("visit.photo_count", { n: v.photos.length }));
  const paintPhotos = () => {
    paintEvidence();
    paintGraduation();
    photoCount.textContent = t("visit.photo_count", { n: v.photos.length });
    kind.value = nextKind();
    thumbs.replaceChildren(...v.photos.map((sha) => {
      const img = h("img", { alt: termLabel(vocab.photo_kinds, photoKinds[sha] ?? "lainnya"), width: 96, height: 96 }) as HTMLImageElement;
      void thumbnailUrl(ctx.api, sha).then((url) => { if (url) img.src = url; });
      return h("li", { "data-photo": sha }, img,
        h("span", {}, termLabel(vocab.photo_kinds, photoKinds[sha] ?? "lainnya")),
        editable ? h("button", { type: "button", class: "quiet danger remove-photo", onclick: () => {
          v.photos = v.photos.filter((p) => p !== sha);
          delete photoKinds[sha];
          paintPhotos();
          save();
        } }, t("visit.photo_remove")) : null);
    }));
  };
  const photo = h("input", { type: "file", id: "photo", class: "offscreen", accept: "image/*", capture: "environment", disabled: !editable }) as HTMLInputElement;
  photo.addEventListener("change", async () => {
    const file = photo.files?.[0];
    if (!file) return;
    photoCount.textContent = t("visit.photo_saving");
    try {
      const sha = await ctx.api.addPhoto(new Uint8Array(await file.arrayBuffer()));
      if (!v.photos.includes(sha)) v.photos.push(sha);
      photoKinds[sha] = kind.value as PhotoKind;
      photo.value = "";
      paintPhotos();
      save();
    } catch (e) { toast(errorMessage(e)); paintPhotos(); }
  });

  // Finishing without a GPS fix or a photo asks why, in the enumerator's words; the supervisor
  // reads it beside the visit.
  const evidence = h("textarea", { id: "evidence-note", rows: "2", maxlength: "500", disabled: !editable }, v.evidence_note ?? "") as HTMLTextAreaElement;
  evidence.addEventListener("input", () => { v.evidence_note = evidence.value.trim() ? evidence.value : null; save(); });
  const evidenceIssue = h("p", { class: "field-issue", id: "evidence-issue" });
  const evidenceField = h("label", { class: "field", id: "evidence" }, t("visit.evidence_note"), evidence, evidenceIssue);
  const missingEvidence = () => !v.gps || v.photos.length === 0;
  const paintEvidence = () => { evidenceField.hidden = !missingEvidence(); if (!missingEvidence()) evidenceIssue.textContent = ""; };
  const finish = h("button", { type: "button", class: "primary", id: "finish", disabled: !editable, onclick: async () => {
    window.clearTimeout(timer);
    waiting = false;
    await saving;
    stopGps();
    if (missingEvidence() && !v.evidence_note?.trim()) {
      evidenceIssue.textContent = t(!v.gps && v.photos.length === 0 ? "visit.evidence_both" : !v.gps ? "visit.evidence_gps" : "visit.evidence_photo");
      evidence.scrollIntoView?.({ block: "center" });
      evidence.focus({ preventScroll: true });
      return;
    }
    try {
      v.paradata = para.snapshot(v.gps);
      await ctx.api.finishVisit(v);
      toast(t("visit.finished"));
      ctx.go("household", householdId);
    } catch (e) {
      const issues = (e as { issues?: Issue[] }).issues;
      if (issues?.length) { draft = { ...draft, issues }; tried = true; paint(); toast(t("visit.fix", { n: issues.filter((i) => i.error).length })); jumpToNextIssue(); }
      else toast(errorMessage(e));
    }
  } }, t("visit.finish"));

  ctx.onLeave(async () => {
    stopGps();
    para.pause();
    document.removeEventListener("visibilitychange", onVisibility);
    if (waiting) await saveNow(); else await saving;
  });
  const outcomeStep = h("div", { class: "step-part" }, outcome, outcomeExtra);
  const membersStep = h("div", { class: "step-part" }, h("h2", {}, t("visit.members")), memberList, addMember);
  const evidenceStep = h("div", { class: "step-part" },
    h("fieldset", {}, h("legend", {}, t("visit.gps")), gpsText, gpsHint, gps),
    h("fieldset", {}, h("legend", {}, t("visit.photo")), field(t("visit.photo_kind"), kind, "photo_kind"),
      // The webview's own file button speaks English: a big button of ours opens the camera.
      h("label", { class: "button-like", for: "photo" }, t("visit.photo_take")), photo, photoCount, thumbs),
    evidenceField);
  // The form's sections as steps on one page: a line of steps (done ✓, wrong !) that jumps to
  // each, and how many are complete. One scroll rather than hidden pages, so nothing typed is out
  // of reach and "ke isian berikutnya yang salah" can always get there.
  const steps: { el: HTMLElement; name: string; required: () => string[] }[] = [
    { el: outcomeStep, name: t("visit.step_outcome"), required: () => [] },
    { el: household, name: t("visit.household"), required: () => [] },
    { el: membersStep, name: t("visit.members"), required: () => [] },
    ...qn.sections.map((sec, i) => ({ el: sections[i], name: label(sec.title), required: () => sec.questions.filter((q) => q.required && draft.relevant.includes(q.id)).map((q) => q.id) })),
    { el: evidenceStep, name: t("visit.step_evidence"), required: () => [] },
  ];
  const stepLine = h("nav", { class: "steps", id: "steps", "aria-label": t("visit.steps") });
  const paintSteps = () => {
    const live = steps.filter((st) => !st.el.hidden);
    const state = live.map((st) => {
      const wrong = [...st.el.querySelectorAll(".field-issue")].some((x) => x.textContent && !x.classList.contains("warn"));
      const unanswered = st.required().some((id) => v.answers[id] === undefined || v.answers[id] === "");
      const evidenceMissing = st.el === evidenceStep && missingEvidence() && !v.evidence_note?.trim();
      return wrong ? "wrong" : unanswered || evidenceMissing ? "open" : "done";
    });
    stepLine.replaceChildren(
      h("p", { class: "steps-count" }, t("visit.steps_done", { n: state.filter((x) => x === "done").length, of: live.length })),
      h("ol", {}, live.map((st, i) => h("li", {}, h("button", { type: "button", class: `step ${state[i]}`, "data-step": i,
        onclick: () => st.el.scrollIntoView({ block: "start" }) }, `${state[i] === "done" ? "✓ " : state[i] === "wrong" ? "! " : ""}${st.name}`)))));
  };
  const repaint = paint;
  paint = () => { repaint(); paintSteps(); };
  answerParts.push(household, membersStep, ...sections);
  // Work in a section is timed to it; anywhere else only to the whole visit.
  for (const st of steps) {
    const id = st.el.getAttribute("data-section");
    const enter = () => para.enter(id);
    st.el.addEventListener("focusin", enter);
    st.el.addEventListener("pointerdown", enter);
  }
  const showParts = paintParts;
  paintParts = () => { showParts(); paintSteps(); };
  paintParts();
  paintPhotos();
  paint();
  return h("form", { class: "screen", id: "visit-form", onsubmit: (e: Event) => e.preventDefault() },
    h("button", { type: "button", class: "quiet", id: "back", onclick: () => ctx.go("household", householdId) }, `← ${t("hh.back")}`),
    h("h1", {}, `${t("visit.title")}: ${hf.nama_krt}`),
    editable ? null : h("p", { class: "warn", id: "locked" }, t("visit.locked")),
    open.returned_reason ? h("p", { class: "notice", id: "returned-reason", role: "status" }, t("visit.returned", { r: open.returned_reason })) : null,
    stepLine,
    outcomeStep, ...answerParts, evidenceStep,
    h("div", { class: "form-foot" }, summary, nextWrong, status, finish));
}
