"""Build tests/eval/handbooks.jsonl from H2O.ai's h2o-evals catalog (MPL-2.0), unedited.

The documents are two organisations' own rules: NTUC-ARU's staff handbook (Singapore) and
Stanford Health Care's Medical Staff Rules and Regulations. The questions and expected answers
were written by H2O.ai for its LLM evaluation catalog; this script copies them verbatim (less
H2O's "Respond to the following question." wrapper) and keeps only those whose expected answer
states facts (numbers, names; core.scoring.facts) that are all in the document's text, so the
score measures what the document says, not an expected answer's own invention. Nothing is
reworded. Run: `python scripts/eval_set_h2o.py PATH/TO/h2o-evals` (a checkout, commit a5ece86).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from pypdf import PdfReader

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.scoring import fact_forms, facts

ROOT = Path(__file__).resolve().parent.parent
SETS = {
    "HR_Policy.pdf": ("HR_HR_Policy", ["token_presence_HR_Policy_output.json",
                                       "question_type_HR_Policy_output.json"]),
    "Stanford_Healthcare_Regulations.pdf": (
        "Healthcare_Stanford_Healthcare_Regulations",
        ["token_presence_Stanford_Healthcare_Regulations_output.json",
         "question_type_Stanford_Healthcare_Regulations_output.json"]),
}  # fmt: skip


def cases(path: Path) -> list[dict]:
    """The test cases of one h2o-evals JSON file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [case for test in data["tests"] for case in test["test_cases"]]


def question_of(prompt: str) -> str:
    """The question as H2O wrote it, without their prompt wrapper."""
    return prompt.split("Question:", 1)[-1].strip()


def main() -> None:
    """Copy the documents and write the kept questions."""
    source = Path(sys.argv[1]) / "catalog"
    documents = ROOT / "tests" / "eval" / "handbooks"
    documents.mkdir(parents=True, exist_ok=True)
    lines, seen, dropped = [], set(), 0
    for filename, (folder, files) in SETS.items():
        pdf = source / folder / "used_documents" / filename
        shutil.copyfile(pdf, documents / filename)
        held = fact_forms(" ".join(p.extract_text() or "" for p in PdfReader(pdf).pages))
        for name in files:
            for case in cases(source / folder / "JSON_files" / name):
                question, answer = question_of(case["prompt"]), case["expected_output"].strip()
                wanted = facts(answer)
                if question in seen or not wanted or not all(f in held for f in wanted):
                    dropped += 1
                    continue
                seen.add(question)
                lines.append({"question": question, "expected_sources": [filename],
                              "expected_answer": answer, "answerable": True,
                              "kind": case["categories"][0]})  # fmt: skip
    out = ROOT / "tests" / "eval" / "handbooks.jsonl"
    out.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    print(f"{len(lines)} questions kept, {dropped} dropped, written to {out}")


if __name__ == "__main__":
    main()
