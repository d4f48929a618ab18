"""The member CSV import pipeline: decode -> parse and validate set-based -> write in chunks.

columns.py    the accepted columns, their meaning, and the downloadable template
validation.py per-row field checks in Python, duplicates within the file, codes and phones set-based
phones.py     the exact fast path for well-formed phone cells (phonenumbers' metadata, no full parse)
writer.py     one chunk = one transaction: members (with history), tags, opening balances
The service entry points live in members/services/member_import.py; the bytes are decoded, and the text cut
into records, by the console's CSV upload plumbing (infra.csv_uploads), which every CSV upload shares.
"""
