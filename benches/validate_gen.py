#!/usr/bin/env python3
"""Writes the `callplan validate` benchmark input: a plan and a recipients CSV.

ROWS rows (default 1,000,000): unique numbers valid by libphonenumber from
seven countries, four variable columns and one metadata column, and 1% bad
rows spread over eight kinds of finding. Deterministic (fixed seed).

Usage: benches/validate_gen.py OUT_DIR [ROWS]
"""
import os
import random
import sys

out_dir = sys.argv[1]
rows = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
rng = random.Random(20261129)

US_AREAS = ["212", "213", "303", "305", "312", "404", "415", "512", "602", "617", "702", "206"]

def digits(n):
    return "".join(rng.choice("0123456789") for _ in range(n))

# (country, generator) - each range checked valid by libphonenumber (see
# BENCHMARKS.md: the benchmark prints how many rows are ready).
COUNTRIES = [
    ("US", lambda: "+1" + rng.choice(US_AREAS) + rng.choice("23456789") + digits(6)),
    ("DE", lambda: "+49" + rng.choice(["151", "160", "170", "176"]) + digits(8)),
    ("AU", lambda: "+614" + rng.choice("0123") + digits(7)),
    ("IN", lambda: "+91" + rng.choice("9876") + digits(9)),
    ("BR", lambda: "+55119" + rng.choice("6789") + digits(7)),
    ("ES", lambda: "+346" + digits(8)),
    ("MX", lambda: "+5255" + digits(8)),
]

FIRST = ["Maria", "James", "Aisha", "Lukas", "Priya", "Camille", "Yuki", "Pedro", "Sofia", "Oliver"]
LAST = ["Garcia", "Chen", "Johnson", "Müller", "Raman", "Martin", "Tanaka", "Souza", "López", "Smith"]
TIMES = ["08:30", "09:00", "09:45", "10:15", "11:00", "13:30", "14:15", "15:00", "16:30"]

BAD_KINDS = [
    "national_format", "lost_plus", "spreadsheet_scientific", "not_e164",
    "invalid_number", "number_missing", "missing_variable", "duplicate_number",
]

os.makedirs(out_dir, exist_ok=True)
csv_path = os.path.join(out_dir, "recipients.csv")
seen = set()
first_numbers = []
bad = 0
with open(csv_path, "w", encoding="utf-8", newline="") as f:
    f.write("to_number,customer_name,appointment_date,appointment_time,clinic_name,crm_contact_id\n")
    for i in range(rows):
        while True:
            _, gen = COUNTRIES[i % len(COUNTRIES)]
            number = gen()
            if number not in seen:
                seen.add(number)
                break
        if len(first_numbers) < 1000:
            first_numbers.append(number)
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        date = f"2026-12-{rng.randint(7, 18):02d}"
        clinic = "Sunrise Dental Berlin" if number.startswith("+49") else ""
        if i % 100 == 50:  # 1% bad rows, mixed kinds
            kind = BAD_KINDS[bad % len(BAD_KINDS)]
            bad += 1
            if kind == "national_format":
                number = "(415) 555-" + digits(4)
            elif kind == "lost_plus":
                number = number[1:]
            elif kind == "spreadsheet_scientific":
                number = number[1] + "." + number[2:] + "E+" + str(len(number) - 2)
            elif kind == "not_e164":
                number = number[:3] + " " + number[3:6] + "-" + number[6:]
            elif kind == "invalid_number":
                number = "+447700900" + digits(3)
            elif kind == "number_missing":
                number = ""
            elif kind == "missing_variable":
                name = ""
            elif kind == "duplicate_number":
                number = rng.choice(first_numbers)
        f.write(f"{number},{name},{date},{rng.choice(TIMES)},{clinic},crm_{100000 + i}\n")

with open(os.path.join(out_dir, "plan.yaml"), "w", encoding="utf-8") as f:
    f.write(
        "name: bench-validate\n"
        'from_number: "+14155550100"\n'
        "agent_version_id: av_sandbox\n"
        "recipients: recipients.csv\n"
        "columns:\n"
        "  metadata: [crm_contact_id]\n"
        "variables:\n"
        "  clinic_name: Sunrise Dental\n"
        "required_variables: [customer_name, appointment_date]\n"
    )
print(f"wrote {rows:,} rows ({bad:,} bad) to {csv_path}", file=sys.stderr)
