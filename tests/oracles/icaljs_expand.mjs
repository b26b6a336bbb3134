// Expand every event of an .ics with ical.js (its own RRULE engine; time zones only from the file's
// VTIMEZONE bodies) and print the occurrences overlapping [from, to) as JSON:
//   node icaljs_expand.mjs FILE.ics FROM_ISO_UTC TO_ISO_UTC
// -> [{"uid", "start_utc", "end_utc", "start_local", "end_local", "tzid"}, ...]
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

const [file, fromIso, toIso] = process.argv.slice(2);
const from = Date.parse(fromIso) / 1000;
const to = Date.parse(toIso) / 1000;
const root = new ICAL.Component(ICAL.parse(readFileSync(file, "utf8")));

for (const vtimezone of root.getAllSubcomponents("vtimezone")) {
  ICAL.TimezoneService.register(new ICAL.Timezone(vtimezone));
}

const masters = new Map();
const exceptions = [];
for (const vevent of root.getAllSubcomponents("vevent")) {
  const event = new ICAL.Event(vevent);
  if (vevent.hasProperty("recurrence-id")) exceptions.push(event);
  else masters.set(event.uid, event);
}
for (const exception of exceptions) {
  const master = masters.get(exception.uid);
  if (!master) throw new Error(`override without master: ${exception.uid}`);
  master.relateException(exception);
}

const iso = (seconds) => new Date(seconds * 1000).toISOString().replace(".000Z", "Z");
const wall = (time) => time.toString().slice(0, 19); // local wall time in the value's own zone
const out = [];
const emit = (uid, start, end) => {
  const s = start.toUnixTime();
  const e = end.toUnixTime();
  if (s < to && e > from) {
    out.push({
      uid,
      start_utc: iso(s),
      end_utc: iso(e),
      start_local: wall(start),
      end_local: wall(end),
      tzid: start.zone ? start.zone.tzid : null,
    });
  }
};
for (const event of masters.values()) {
  if (!event.isRecurring()) {
    emit(event.uid, event.startDate, event.endDate);
    continue;
  }
  const iterator = event.iterator();
  for (let next = iterator.next(); next; next = iterator.next()) {
    if (next.toUnixTime() >= to) break;
    const details = event.getOccurrenceDetails(next);
    emit(event.uid, details.startDate, details.endDate);
  }
}
out.sort((a, b) => (a.start_utc + a.uid).localeCompare(b.start_utc + b.uid));
process.stdout.write(JSON.stringify(out));
