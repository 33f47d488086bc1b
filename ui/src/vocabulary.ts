// The vocabularies of verivali-domain, bundled at build time from the generated, checked-in
// crates/domain/vocabulary.json (never a copied list): the form offers exactly the codes the
// device store and the server accept, with their labels in both languages.
import vocabulary from "../../crates/domain/vocabulary.json";
import { lang } from "./i18n";

export interface Term {
  code: string | number;
  id: string;
  en: string;
}

export interface OutcomeTerm extends Term {
  needs_reason: boolean;
  needs_reference: boolean;
  needs_answers: boolean;
  updates_baseline: boolean;
}

export const vocab = vocabulary as {
  outcomes: OutcomeTerm[];
  outcome_reasons: Term[];
  member_statuses: Term[];
  relationships: Term[];
  sexes: Term[];
  work_states: Term[];
  review_states: Term[];
  roles: Term[];
  household_fields: (Term & { editable: boolean })[];
  member_fields: Term[];
  assignment_sources: Term[];
  photo_kinds: Term[];
  graduation_kinds: Term[];
};

/** The label of `code` in `list` in the current language (the code itself when unknown). */
export function label(list: Term[], code: string | number | null | undefined): string {
  const e = list.find((x) => x.code === code);
  if (!e) return String(code ?? "");
  return lang() === "en" ? e.en : e.id;
}

/** `[value, label]` pairs for a select. */
export function options(list: Term[]): [string, string][] {
  return list.map((e) => [String(e.code), lang() === "en" ? e.en : e.id]);
}

/** An outcome's flags (what the form must ask for). */
export function outcomeTerm(code: string | null | undefined): OutcomeTerm | undefined {
  return vocab.outcomes.find((o) => o.code === code);
}
