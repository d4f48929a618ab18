"""Helpers shared by the member import tests."""

from members.services.member_import import member_import_start, member_import_store_upload


def csv_bytes(*lines, encoding="utf-8"):
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def run_import(data, *, now, encoding="auto", user=None):
    """Store an upload and import it the way the console's confirm does; return the job."""
    file_name = member_import_store_upload(data=data, user=user)
    return member_import_start(file_name=file_name, encoding=encoding, user=user, now=now)
