"""From an uploaded object to a started job: stream, validate, split into chunks, queue, start.

Design (see README, "Why the validator starts the state machine"):
1. The job id is derived from bucket, key and version, and the job record is created with a
   condition, so a repeated S3 event never starts a second import.
2. The file is streamed once. Valid rows are written to S3 as chunk objects while reading (the
   claim-check pattern: SQS messages stay tiny whatever the row width); invalid rows go to a local
   spool file and then to S3, for the error file.
3. Only after the whole file is read is anything queued: under ``reject_file`` a single invalid
   row means no chunk is ever sent, so nothing is written to Intercom.
4. The state machine is started for every job (accepted, rejected or failed), so every upload ends
   in exactly one summary email. That hand-over (start the execution, queue the chunks) is recorded on
   the job (``handover``: "pending" in the write that ends the validation, ``execution_started``,
   ``chunks_queued``, then "done"), so whoever finds it unfinished (a retry of the event, the failure
   destination, the sweep) finishes it from where it stopped: StartExecution by name is idempotent and
   each chunk is queued once (a batch interrupted half-sent may be sent again: recording is exactly-once).
5. A file too big for one invocation (Lambda stops at 15 minutes) is read in several: when the time
   budget runs out, at a block boundary, the validator saves a checkpoint under ``work/<job>/checkpoints/``
   (the byte offset of the next row, every counter, the duplicate-detection database, the invalid rows so
   far) and invokes itself asynchronously with ``{"continue": {"job_id", "seq"}}``. The next invocation
   claims that checkpoint with a conditional write (a repeated event is a no-op), reads on from the
   offset with a ranged GET, and so on; only the last one queues chunks and starts the state machine.

Modules, in the order a file goes through them:
- ``entry``: the entry points (``handle_upload``, ``handle_continue``, ``validate_only``).
- ``context``: ``Clients`` and the ``Context`` (settings, job store, clients) every step receives.
- ``outcome``: ``Outcome``, how a step ended. ``deadline``: when an invocation stops reading.
- ``upload``: the uploaded object (``Upload``) and reading it. ``opening``: a new upload's options,
  columns and attribute plan. ``header``: what the header alone decides (import type, columns, custom attributes
  to create), also used by ``intercom-import run`` to announce them before uploading.
- ``state``: ``ReadPlan`` and ``ReadState``, what reading carries across invocations.
- ``row_loop``: the row loop. ``duplicates``: in-file duplicate detection. ``invalid``: the refused rows.
  ``chunk_writer``: the chunk objects.
- ``checkpoint``: the ``Checkpoint`` record, saved, loaded and claimed.
- ``finish``: the file read to its end, accepted or rejected. ``prepare``: creating custom attributes and
  companies in Intercom.
- ``handover``: starting the state machine and queueing the chunks, and finishing an interrupted start.
- ``failure``: a validation that failed or died. ``sweep``: the scheduled backstop.
"""
