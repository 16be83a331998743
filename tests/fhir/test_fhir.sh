#!/usr/bin/env bash
# The FHIR export, validated: a store holding every record type, and a
# merged chart, is exported by the chartsync command (all patients, one,
# and one merged into another), and both validators of
# tests/fhir/validate.js must accept the bundles. Then each validator must
# reject a bundle broken in the way only it catches, so a validator that
# validates nothing fails this test:
#   - no Bundle.type: the R4 StructureDefinitions (npm `fhir`) reject it;
#     the JSON schema does not require it
#   - a birth date in month 13: the R4 JSON schema's date pattern rejects
#     it; the `fhir` package lets it through
# usage: test_fhir.sh CHARTSYNC SOURCE_DIR
set -euo pipefail
chartsync=$1
src=$2
modules=$("$src/tools/dev/fhir-deps")
export NODE_PATH="$modules/node_modules"
validate() { node "$src/tests/fhir/validate.js" "$@"; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export CHARTSYNC_STORE="$tmp/store" CHARTSYNC_PASSPHRASE=pw CHARTSYNC_NEW_PASSPHRASE=pw
unset CHARTSYNC_PASSPHRASE_FILE CHARTSYNC_USER
cs() { "$chartsync" "$@"; }

cs init --user maria >/dev/null
pat=$(cs add patient name='Ada Byron' mrn=A-1001 dob=1961-12-10 sex=F phone=555-0100 \
      address='12 Long Road, Smallville' payer='Regional Health' member_id=RH-1)
visit=$(cs add encounter --patient "$pat" date=2024-03-15T09:30Z reason=cough provider='Dr Lee')
cs add note --encounter "$visit" text='Seen for cough. Café au lait spots noted; continues metformin.' \
   author='Dr Lee' date=2024-03-15T10:05:30.250+02:00 >/dev/null
cs add note --patient "$pat" text='Phone call: no change.' >/dev/null
cs add problem --patient "$pat" name='Type 2 diabetes' icd=E11.9 onset=2010-05-01 status=active >/dev/null
cs add problem --patient "$pat" name='Old fracture' status='healed long ago' >/dev/null
cs add medication --patient "$pat" name=Metformin dose=500 unit=mg route=oral frequency='twice daily' \
   start=2020-01-01 end=2021-06-30 >/dev/null
cs add medication --encounter "$visit" name='Benzonatate' start=2024-03-15 >/dev/null
cs add allergy --patient "$pat" substance=Penicillin reaction=Hives severity=severe >/dev/null
cs add allergy --patient "$pat" substance=Latex >/dev/null
cs add procedure --encounter "$visit" cpt=99213 modifier=25 fee:=12500 date=2024-03-15 >/dev/null
cs add procedure --encounter "$visit" cpt=G0008 >/dev/null
cs add diagnosis --encounter "$visit" icd=R05.9 >/dev/null
cs add diagnosis --encounter "$visit" icd=S52.521A >/dev/null
printf '%%PDF-1.4 intake form\n' > "$tmp/scan.pdf"
cs attach "$pat" "$tmp/scan.pdf" --title 'intake form' >/dev/null
cs attach "$pat" "$tmp/scan.pdf" --encounter "$visit" >/dev/null
cs show "$pat" >/dev/null   # an access event, as chartsync writes one
other=$(cs add patient name='Bob Stone' mrn=B-2 dob=1970-01-01)
cs add encounter --patient "$other" date=2024-01-02 >/dev/null

# Bob registered twice, his charts merged: the tombstone and the chart
# kept link to each other, and a one-patient export of the merged id is
# the kept chart
dup=$(cs add patient name='Robert Stone' mrn=B-22 dob=1970-01-01)
cs add encounter --patient "$dup" date=2024-02-03 >/dev/null
cs patient merge "${other:0:8}" "${dup:0:8}" >/dev/null

cs export fhir --all -o "$tmp/all.json"
cs export fhir "${pat:0:8}" > "$tmp/one.json"
cs export fhir "${dup:0:8}" > "$tmp/merged.json" 2>/dev/null
for t in replaces replaced-by; do
  grep -q "\"type\":\"$t\"" "$tmp/all.json" || { echo "no '$t' link in the bundle" >&2; exit 1; }
done
grep -q "\"id\":\"$other\"" "$tmp/merged.json" ||
  { echo "the export of a merged patient is not the kept chart" >&2; exit 1; }
for t in Patient Encounter Condition MedicationStatement AllergyIntolerance Procedure DocumentReference; do
  grep -q "\"resourceType\":\"$t\"" "$tmp/all.json" || { echo "no $t in the bundle" >&2; exit 1; }
done
validate "$tmp/all.json" "$tmp/one.json" "$tmp/merged.json"

# each validator rejects what only it catches
node -e '
const fs = require("fs");
const b = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
const untyped = Object.assign({}, b); delete untyped.type;
fs.writeFileSync(process.argv[2], JSON.stringify(untyped));
const dated = JSON.parse(JSON.stringify(b));
dated.entry.find((e) => e.resource.resourceType === "Patient").resource.birthDate = "1961-13-10";
fs.writeFileSync(process.argv[3], JSON.stringify(dated));
' "$tmp/one.json" "$tmp/untyped.json" "$tmp/month13.json"
if validate --only structure "$tmp/untyped.json" >/dev/null; then
  echo "the StructureDefinition validator accepted a bundle with no type" >&2; exit 1
fi
if validate --only schema "$tmp/month13.json" >/dev/null; then
  echo "the JSON schema validator accepted a birth date in month 13" >&2; exit 1
fi
for f in untyped month13; do
  if validate "$tmp/$f.json" >/dev/null; then echo "validate.js accepted $f.json" >&2; exit 1; fi
done
echo "fhir: both validators accept the export and reject what each alone catches"
