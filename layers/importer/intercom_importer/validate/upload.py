"""The uploaded object: its record (``Upload``: from the S3 event, saved in every checkpoint) and reading it,
from its start or on from a checkpoint's byte offset."""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from intercom_importer import aws
from intercom_importer.csv_reader import CsvStream, StreamCheckpoint
from intercom_importer.errors import FileRejectedError

_GONE = ("NoSuchKey", "NoSuchVersion", "404")  # the object (or its version) was deleted


@dataclass
class Upload:
    bucket: str
    key: str
    version_id: str | None
    etag: str | None
    size: int | None
    uploaded_by: str | None = None  # the S3 event's userIdentity.principalId
    source_ip: str | None = None  # the S3 event's requestParameters.sourceIPAddress

    def to_item(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Upload:
        return cls(**item)

    def version(self) -> dict[str, str]:
        """GetObject's ``VersionId`` argument (none for an unversioned object)."""
        return {"VersionId": self.version_id} if self.version_id else {}


def open_upload(s3: Any, upload: Upload) -> dict[str, Any]:
    """GetObject of the upload (its body and metadata); an object already deleted rejects the file."""
    try:
        obj: dict[str, Any] = s3.get_object(Bucket=upload.bucket, Key=upload.key, **upload.version())
    except ClientError as exc:
        if aws.error_code(exc) in _GONE:
            raise FileRejectedError(f"The uploaded file {upload.key} no longer exists in the bucket.") from exc
        raise
    return obj


def reopen_upload(s3: Any, upload: Upload, position: StreamCheckpoint) -> CsvStream:
    """The upload read on from ``position``: the plain file from its byte offset (a ranged GET), a gzip file
    decompressed again from its start with the bytes before the offset skipped unparsed."""
    ranged = {} if position.compressed else {"Range": f"bytes={position.offset}-"}
    try:
        body: Any = s3.get_object(Bucket=upload.bucket, Key=upload.key, **upload.version(), **ranged)["Body"]
    except ClientError as exc:
        code = aws.error_code(exc)
        if code == "InvalidRange":  # the checkpoint was taken after the very last row
            body = io.BytesIO(b"")
        elif code in _GONE:
            raise FileRejectedError(
                f"The uploaded file {upload.key} was removed from the bucket while it was being validated."
            ) from exc
        else:
            raise
    return CsvStream.resume(body, position)
