"""The owner's reports (issue 14 bullet 6): daily aggregates kept from the table's stream, read per service and range.

- contribution: what one booking (or webhook event) adds to which day's counters, a pure function of its item;
- stream: applies the difference of a changed item's contributions to the days, exactly once per stream record;
- store: the aggregates' items (REPORT#{service_id} / DAY#{yyyy-mm-dd}) and the once-only markers;
- views: GET /admin/reports (per day or ISO week, rates from the sums, CSV).
"""
