"""AWS limits and Squall's defaults: every figure that shapes behaviour, each with its unit and source.

Sources: the SQS, Lambda, DynamoDB and EventBridge Scheduler developer guides and the botocore 1.43
service models, as collected in November 2026. Re-check them when upgrading boto3 or aws-cdk-lib.
"""

from __future__ import annotations

# --- SQS (Amazon SQS Developer Guide, "Quotas"; botocore sqs service model) -------------------------

#: Largest message (body plus message attributes), in bytes. Raised from 256 KiB to 1 MiB in 2025.
SQS_MAX_MESSAGE_BYTES = 1_048_576
#: Largest per-message DelaySeconds, in seconds; per-message delays are refused on FIFO queues.
SQS_MAX_DELAY_SECONDS = 900
#: Most entries in one SendMessageBatch / DeleteMessageBatch / ReceiveMessage call.
SQS_MAX_BATCH_ENTRIES = 10
#: Largest whole SendMessageBatch request, in bytes (BatchRequestTooLong above it).
SQS_MAX_BATCH_BYTES = 1_048_576
#: Most message attributes on one message.
SQS_MAX_MESSAGE_ATTRIBUTES = 10
#: Longest MessageGroupId (SendMessage, "MessageGroupId": up to 128 alphanumeric and punctuation characters),
#: on FIFO queues and, since 2025, on standard queues, where it names a tenant of a fair queue.
SQS_MAX_MESSAGE_GROUP_ID_CHARS = 128
#: Longest visibility timeout, in seconds (12 hours); ChangeMessageVisibility restarts the clock.
SQS_MAX_VISIBILITY_SECONDS = 43_200
#: Longest message retention, in seconds (14 days).
SQS_MAX_RETENTION_SECONDS = 1_209_600
#: Redrive policy maxReceiveCount bounds; >= 5 is AWS's advice for Lambda consumers (throttles use receives).
SQS_MIN_RECEIVE_COUNT_FOR_LAMBDA = 5
SQS_MAX_RECEIVE_COUNT = 1000

# --- Lambda and its SQS event source mapping (AWS Lambda Developer Guide, "Using Lambda with SQS") ----

#: Longest Lambda function timeout, in seconds.
LAMBDA_MAX_TIMEOUT_SECONDS = 900
#: Shortest Lambda function timeout, in seconds (Lambda API reference, CreateFunction ``Timeout``: minimum 1).
LAMBDA_MIN_TIMEOUT_SECONDS = 1
#: Lambda function memory bounds, in MB (Lambda quotas, "Function memory allocation": 128 MB to 10,240 MB).
LAMBDA_MIN_MEMORY_MB = 128
LAMBDA_MAX_MEMORY_MB = 10_240
#: Lambda ephemeral storage (/tmp) bounds, in MB (Lambda API reference, ``EphemeralStorage.Size``: 512-10,240;
#: 512 is the default and is free).
LAMBDA_MIN_EPHEMERAL_STORAGE_MB = 512
LAMBDA_MAX_EPHEMERAL_STORAGE_MB = 10_240
#: Least reserved concurrency a function may have (Lambda API reference, ``Concurrency``: minimum 0; 0 stops
#: every invocation of the function).
LAMBDA_MIN_RESERVED_CONCURRENCY = 0
#: AWS guidance: queue visibility timeout >= 6 x function timeout, so Lambda can retry throttled batches.
VISIBILITY_TO_TIMEOUT_RATIO = 6
#: Largest MaximumBatchingWindowInSeconds, in seconds.
ESM_MAX_BATCHING_WINDOW_SECONDS = 300
#: Largest standard-queue batch size; above 10 a batching window is required.
ESM_MAX_BATCH_SIZE = 10_000
ESM_MAX_BATCH_SIZE_WITHOUT_WINDOW = 10
#: ScalingConfig.MaximumConcurrency bounds per event source mapping.
ESM_MIN_MAX_CONCURRENCY = 2
ESM_MAX_MAX_CONCURRENCY = 1000

# --- DynamoDB (Amazon DynamoDB Developer Guide, "Quotas") ----------------------------------------------

#: Largest item, in bytes (attribute names count too).
DYNAMODB_MAX_ITEM_BYTES = 400 * 1024
#: Writes per second one partition (so one item) takes: 1,000 write units ("Best practices for designing and
#: using partition keys effectively", partition throughput). A limiter's state is one item per task and key.
DYNAMODB_ITEM_WRITES_PER_SECOND = 1000
#: Bytes per write request unit; a write of a larger item costs ceil(size / 1 KB) units.
DYNAMODB_WRITE_UNIT_BYTES = 1024
#: Bytes per read request unit of a strongly consistent read (an eventually consistent one costs half).
DYNAMODB_READ_UNIT_BYTES = 4 * 1024
#: Most keys in one BatchGetItem request (DynamoDB Developer Guide, "BatchGetItem": 100 items, 16 MB).
DYNAMODB_BATCH_GET_KEYS = 100
#: Most put or delete requests in one BatchWriteItem (DynamoDB API Reference, "BatchWriteItem": 25, 16 MB).
DYNAMODB_BATCH_WRITE_ITEMS = 25
#: Rounds of BatchGetItem for one batch of keys (DynamoDB may leave keys unprocessed), and the pause between them.
DYNAMODB_BATCH_GET_ROUNDS = 8
DYNAMODB_BATCH_GET_BACKOFF_SECONDS = 0.05

# --- workflows (squall.tasks.canvas, squall.state.groups) ---------------------------------------------------
#: Members counted on one item of a chord's counter: 64 indices of up to 5 digits stay under one write unit.
CHORD_SHARD_SIZE = 64
#: The most members a group may have. Each member is one message (sent 10 to a SendMessageBatch request); the
#: chord body reads every member's record before it runs (BatchGetItem, 100 a request: 100 requests at 10,000)
#: and holds every result in memory, so the bound is the body's invocation, not SQS or DynamoDB.
MAX_GROUP_MEMBERS = 10_000
#: The most tasks one workflow may hold, groups' members included (a frozen workflow is checked whole at send).
MAX_WORKFLOW_TASKS = 20_000

# --- Squall's own defaults -------------------------------------------------------------------------------

#: The shortest spacing a rate limit may ask for (so at most 500 admissions a second on one limiter item): half
#: of what one DynamoDB item takes (DYNAMODB_ITEM_WRITES_PER_SECOND), the rest left for contended writes.
MIN_RATE_INTERVAL_SECONDS = 1 / 500
#: The largest ``burst`` a rate limit may allow, and the largest ``concurrency_limit`` (the slots of one limiter
#: item are listed in it: 1,000 stay far below DynamoDB's 400 KB item).
MAX_RATE_BURST = 1000
MAX_CONCURRENCY_LIMIT = 1000
#: How far ahead a rate slot may be reserved and waited for inside the invocation, in seconds. A delivery whose
#: slot is further away goes back to its queue until within this of it. SQS delays and visibility are whole
#: seconds, so a deferral lands anywhere in a second: at least 1 s is what brings it back before its slot, and
#: lets a backlog drain at the limit, not below it. The wait is billed Lambda time, which keeps it at 1 s.
RATE_HORIZON_SECONDS = 1.0
#: Conditional writes one admission tries (a lost race returns the current state) before it defers.
LIMITER_TRIES = 4
#: Seconds a runtime change of a task's limits (squall.ops.limits) may take to reach a worker: its cache.
LIMITS_CACHE_SECONDS = 10.0
#: A paused key's deliveries come back this often, in seconds, to see whether it was resumed.
PAUSED_RECHECK_SECONDS = 30.0
#: The longest a delivery waiting for a concurrency slot stays away before it asks again, in seconds.
CONCURRENCY_RECHECK_SECONDS = 10.0
#: A delivery whose limiter write failed (throttled, refused) comes back after 1-2 times this, in seconds.
LIMITER_ERROR_RETRY_SECONDS = 2.0

#: Envelope format version written by this SDK; the worker refuses others.
ENVELOPE_VERSION = 1
#: Default queue name a task goes to.
DEFAULT_QUEUE = "default"
#: Default retries after the first attempt (Celery's default is 3 as well).
DEFAULT_MAX_RETRIES = 3
#: Largest max_retries a task may declare (or a call or ``retry(max_retries=)`` may ask for). The worker's
#: attempt counter, not SQS's receive count, enforces it: this only bounds how long one task can keep failing.
MAX_RETRIES_CEILING = 900
#: Default exponential backoff base, in seconds (delay = base * 2**retry, capped, full jitter).
DEFAULT_RETRY_BACKOFF = 2.0
#: Default cap on one backoff delay, in seconds.
DEFAULT_RETRY_BACKOFF_MAX = 600.0
#: Longest wait Squall accepts before a task is due (a countdown, an eta, a retry delay), in seconds: 2 years.
#: An eta further ahead is almost always a unit slip (milliseconds given as seconds); it is refused when sent
#: and dead-lettered with that reason if it arrives on a queue anyway.
MAX_ETA_AHEAD_SECONDS = 2 * 366 * 24 * 3600
#: maxReceiveCount of every source queue's redrive policy. The worker never lets a message it acts on reach
#: it: a retry is a new message, and a message kept on its last receive is sent again as a fresh copy
#: (receive count 1). Only receives on which the worker never acts (Lambda throttling, a crash or timeout
#: before the record is reached) can use it up; the reconciler records what SQS then moves as DEAD.
MAX_RECEIVE_COUNT = 10
#: Receives kept free below MAX_RECEIVE_COUNT for receives the worker never sees (throttled batches): a message
#: the worker keeps, or would run, on its receive MAX_RECEIVE_COUNT - this or later is sent again fresh instead,
#: so up to this many throttled receives in a row never let the redrive policy move it.
RECEIVE_HEADROOM = 4
#: On a FIFO queue, where a retry keeps the received message (its receive count goes on), the receives a retry
#: must leave before MAX_RECEIVE_COUNT: with fewer, the task is DEAD with the reason instead, so that the
#: redrive policy never moves it to the DLQ unrecorded (one throttled receive of room).
FIFO_RECEIVE_HEADROOM = 2
#: How long a result stays readable after the task finishes, in seconds (DynamoDB TTL).
DEFAULT_RESULT_TTL_SECONDS = 7 * 24 * 3600
#: How long a DEAD task's record is kept, in seconds: as long as the DLQ keeps its message.
DEAD_RECORD_TTL_SECONDS = SQS_MAX_RETENTION_SECONDS
#: Minimum time between two progress writes of one attempt, in seconds; later reports are coalesced.
PROGRESS_MIN_INTERVAL_SECONDS = 1.0
#: Largest stored progress report (JSON, UTF-8), in bytes; a larger report is refused to the task.
MAX_PROGRESS_BYTES = 16 * 1024
#: Room in a task's item for everything but its result and progress, in bytes: attribute names, the key
#: (task id <= 128 characters), name (<= 256), queue, times, token and index keys (about 1.5 KB at most).
#: A SUCCESS write removes the earlier attempts' error and reason, so they need no room beside a result.
ITEM_OVERHEAD_BYTES = 4 * 1024
#: Largest JSON result stored inline, in bytes: the item limit less the progress report and the overhead.
MAX_RESULT_BYTES = DYNAMODB_MAX_ITEM_BYTES - MAX_PROGRESS_BYTES - ITEM_OVERHEAD_BYTES
#: Longest stored error message and traceback, in characters (DynamoDB item size).
MAX_ERROR_MESSAGE_CHARS = 4_096
MAX_TRACEBACK_CHARS = 16_384
#: Longest dead-letter reason carried as an SQS message attribute, in characters.
MAX_REASON_CHARS = 1_024
#: Longest reason an envelope's refusal carries, in characters: its problems are listed whole while they
#: fit, then counted, so the reason stays one readable line within the dead-letter attribute above.
MAX_DECODE_REASON_CHARS = 900
#: Slack added to a claim's lease beyond the invocation's remaining time, in seconds (clock skew).
LEASE_SLACK_SECONDS = 5.0
#: Time kept free at the end of an invocation for a record's outcome writes, in seconds: a record is not
#: started unless its expected duration plus this margin fits in the invocation's remaining time; it is
#: handed back to the queue instead, without spending an attempt.
DEADLINE_MARGIN_SECONDS = 5.0
#: How long a message whose signing keys cannot be read (SSM / Secrets Manager unreachable) waits before it
#: is tried again, in seconds. It stays on its queue and spends no attempt.
KEYRING_RETRY_SECONDS = 60
#: How long after it was due (its eta, or when it was sent) a signed envelope is accepted, in seconds: a
#: replayed body older than this is refused (4 days: the source queues' retention). Finished task records of
#: an app that signs are kept at least this long, so that a replay within the window is recognized.
SIGNED_ENVELOPE_MAX_AGE_SECONDS = 4 * 24 * 3600
#: Default worker Lambda timeout and memory (CDK context may override both).
DEFAULT_WORKER_TIMEOUT_SECONDS = 60
DEFAULT_WORKER_MEMORY_MB = 256
#: Source queue retention, in seconds (SQS's own default, 4 days); DLQs keep the maximum, 14 days,
#: because a standard-queue DLQ keeps the original enqueue time and must outlive its source.
DEFAULT_QUEUE_RETENTION_SECONDS = 4 * 24 * 3600
DLQ_RETENTION_SECONDS = SQS_MAX_RETENTION_SECONDS
#: A message is sent again as a fresh copy (its retention clock restarted) rather than kept on the queue
#: when it would otherwise come back later than this many seconds before its retention ends.
RETENTION_MARGIN_SECONDS = 3600
#: The reconciler: the function that records as DEAD what SQS's redrive policy moved (timeout, seconds;
#: memory, MB), and its event source's batch size and concurrency (the smallest ESM maximum).
RECONCILER_TIMEOUT_SECONDS = 30
RECONCILER_MEMORY_MB = 256
RECONCILER_BATCH_SIZE = 10
RECONCILER_MAX_CONCURRENCY = ESM_MIN_MAX_CONCURRENCY
#: Default ESM batch size and batching window, in records and seconds.
DEFAULT_BATCH_SIZE = 10
DEFAULT_BATCHING_WINDOW_SECONDS = 0
#: Most records of one batch a worker runs at once (Queue(batch_concurrency=)): threads of one invocation, a
#: Squall bound, not AWS's; past the batch's size more buy nothing, and each thread holds its own stack.
MAX_BATCH_CONCURRENCY = 100
#: Longest task id, in characters; ids are DynamoDB keys and SQS attribute values.
MAX_TASK_ID_CHARS = 128
#: Times one task may be brought back from its dead-letter queue (``squall dlq redrive --max-redrives``).
DEFAULT_MAX_REDRIVES = 3
#: How long a DLQ message received for a look (``squall dlq list``) or a redrive stays hidden, in seconds.
DLQ_PEEK_VISIBILITY_SECONDS = 30
DLQ_REDRIVE_VISIBILITY_SECONDS = 120
#: ``squall dev``'s port on 127.0.0.1 for moto's endpoint (AWS_ENDPOINT_URL); its REST API and dashboard take the
#: next two. A Squall choice, fixed so a second shell's exports and a bookmarked dashboard outlive a restart:
#: below the IANA ephemeral range (49152-65535, RFC 6335), away from moto's 5000 and LocalStack's 4566.
DEV_PORT = 8750

# --- EventBridge Scheduler (Scheduler User Guide "Quotas"; CreateSchedule API reference) ---------------

#: Longest schedule name, in characters, of [0-9a-zA-Z-_.]; names are unique per schedule group.
SCHEDULER_MAX_NAME_CHARS = 64
#: FlexibleTimeWindow.MaximumWindowInMinutes bounds, in minutes.
SCHEDULER_MIN_WINDOW_MINUTES = 1
SCHEDULER_MAX_WINDOW_MINUTES = 1440
#: RetryPolicy bounds: retry attempts, and the age in seconds after which an invocation is dropped to the DLQ.
SCHEDULER_MAX_RETRY_ATTEMPTS = 185
SCHEDULER_MIN_EVENT_AGE_SECONDS = 60
SCHEDULER_MAX_EVENT_AGE_SECONDS = 86_400
#: The context attribute EventBridge Scheduler replaces in a target's Input at each firing ("Using context
#: attributes"), and the time it writes there, e.g. 2022-03-22T18:59:43Z (a regular expression).
SCHEDULER_TIME_PLACEHOLDER = "<aws.scheduler.scheduled-time>"
SCHEDULER_TIME_PATTERN = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?Z"
#: Largest target Input, in bytes (the quotas page's schedule payload size, 256 KB; re-check on upgrade).
SCHEDULER_MAX_INPUT_BYTES = 262_144
#: Squall's RetryPolicy for every schedule it makes: the service's maxima, so a throttled or briefly
#: failing SendMessage is retried for a day before the invocation goes to the scheduler DLQ.
SCHEDULER_RETRY_ATTEMPTS = SCHEDULER_MAX_RETRY_ATTEMPTS
SCHEDULER_EVENT_AGE_SECONDS = SCHEDULER_MAX_EVENT_AGE_SECONDS

# --- Resource names (each service's quotas page or API reference; refused at synth by squall.cdk.stack) -------

#: Longest SQS queue name, in characters, a ``.fifo`` suffix included (SQS API Reference, CreateQueue QueueName).
SQS_MAX_QUEUE_NAME_CHARS = 80
#: Longest Lambda function name, in characters, given as a bare name (Lambda API Reference, CreateFunction
#: FunctionName; a full ARN may be longer).
LAMBDA_MAX_FUNCTION_NAME_CHARS = 64
#: Longest IAM role name, in characters (IAM User Guide, "IAM and AWS STS quotas"); role names are
#: account-wide, not per region.
IAM_MAX_ROLE_NAME_CHARS = 64
#: Longest schedule group name, in characters (Scheduler API Reference, CreateScheduleGroup Name); a schedule's
#: own name is bounded by SCHEDULER_MAX_NAME_CHARS.
SCHEDULER_MAX_GROUP_NAME_CHARS = 64
#: Shortest and longest DynamoDB table name, in characters (DynamoDB Developer Guide, "Naming rules").
DYNAMODB_MIN_TABLE_NAME_CHARS = 3
DYNAMODB_MAX_TABLE_NAME_CHARS = 255
#: Longest name of a DynamoDB key attribute or TTL attribute, in characters (botocore dynamodb model,
#: KeySchemaAttributeName and TimeToLiveAttributeName: 1-255).
DYNAMODB_MAX_ATTRIBUTE_NAME_CHARS = 255

# --- S3 (Amazon S3 User Guide, "General purpose bucket naming rules" and "Namespaces for general purpose
# buckets", 2026) -------------------------------------------------------------------------------------------

#: Longest general purpose bucket name, in characters: 3-63 lowercase letters, digits, '.' and '-', beginning
#: and ending with a letter or digit. Names are unique per partition unless in an account regional namespace.
S3_MAX_BUCKET_NAME_CHARS = 63
#: A bucket in the account regional namespace (since March 2026; not offered in me-south-1 or me-central-1)
#: is named ``<prefix>-<account id>-<region>-an`` and only its account can create it: the last part.
S3_ACCOUNT_REGIONAL_SUFFIX = "-an"
#: Digits of an AWS account id, which the account regional namespace puts in the bucket name.
AWS_ACCOUNT_ID_CHARS = 12
#: Longest Region code a name must leave room for, in characters (ap-southeast-5, eusc-de-east-1 in 2026).
AWS_MAX_REGION_CODE_CHARS = 14

# --- Lambda concurrency (AWS Lambda Developer Guide, "Configuring scaling behavior for SQS event source
# mappings" and "Lambda function scaling", 2026) ---------------------------------------------------------

#: Concurrent executions a Region's functions share by default (an adjustable quota; new accounts may start
#: lower): an event source without MaximumConcurrency may take all of them and throttle every other function.
LAMBDA_DEFAULT_REGIONAL_CONCURRENCY = 1000
#: Concurrent invocations an SQS event source without MaximumConcurrency scales to at most (by up to 300
#: more a minute), whatever the account's quota.
ESM_UNCAPPED_CONCURRENCY = 1250
#: Default ScalingConfig.MaximumConcurrency of each queue's worker event source (``Queue(max_concurrency=...)``;
#: ``None`` is the explicit "no cap"). At the cap Lambda stops polling rather than invoking and being
#: throttled, so a burst waits on the queue instead of spending receives toward the redrive policy, and one
#: busy queue takes at most this many of the Region's shared executions. Ten keeps a dozen queues well inside
#: the default 1,000 and still runs 100 records at a time per queue at the default batch size of 10.
DEFAULT_MAX_CONCURRENCY = 10
#: Concurrent invocations an SQS event source starts with once messages are available (five batches at a
#: time), and how many more it adds a minute while messages remain (up to 300). A lane whose MaximumConcurrency
#: is at most the first figure has its whole share at once; a larger share is reached at the second's pace.
ESM_INITIAL_CONCURRENCY = 5
ESM_SCALE_UP_PER_MINUTE = 300

# --- priority lanes (squall.deploy.lanes; docs/flow-control.md, "Priorities") ----------------------------

#: Most lanes one queue may have. Each lane is one more SQS queue, DLQ and event source (an idle event source
#: costs its empty receives every month); ten is as many levels as Celery's priorities 0-9.
MAX_LANES = 10
#: Longest lane name, in characters (lowercase letters, digits, '-' and '_'); it joins the queue's physical name.
MAX_LANE_NAME_CHARS = 20

# --- HTTP targets (squall.targets, docs/http-tasks.md) -----------------------------------------------------

#: Bytes of a target's response body kept in the task's result (64 KiB, the contract of ``send_http``); the
#: rest is never read, so a huge body costs the worker no memory.
HTTP_TARGET_MAX_BODY_BYTES = 64 * 1024
#: Longest wait a target's ``Retry-After`` may ask for, in seconds (1 hour): a longer one (or a date further
#: out) is cut to this, so a misconfigured receiver cannot park a delivery for days; SQS visibility allows 12 h.
HTTP_TARGET_MAX_RETRY_AFTER_SECONDS = 3600
#: Redirects followed per attempt (each hop checked again by the address guard); one more makes it DEAD.
HTTP_TARGET_MAX_REDIRECTS = 5
#: Default and longest per-request timeout, in seconds: connect, each read, and the whole response together.
HTTP_TARGET_DEFAULT_TIMEOUT_SECONDS = 30.0
HTTP_TARGET_MAX_TIMEOUT_SECONDS = LAMBDA_MAX_TIMEOUT_SECONDS
#: Connections kept open per target address (scheme, host, IP, port) for reuse across invocations.
HTTP_TARGET_POOL_SIZE = 4

# --- Scale: throughput ceilings a burst meets (bench/scale.py, docs/benchmarks.md "Scale model"; December 2026) --
# Lambda Developer Guide, "Configuring scaling behavior for SQS event source mappings"
# (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html), the ProvisionedPollerConfig API
# (https://docs.aws.amazon.com/lambda/latest/api/API_ProvisionedPollerConfig.html) and the provisioned-mode
# launch post (https://aws.amazon.com/blogs/aws/aws-lambda-enhances-sqs-processing-with-new-provisioned-mode-3x-faster-scaling-16x-higher-capacity).

#: Concurrent invocations an SQS event source in provisioned mode adds a minute (up to 1,000) and reaches at most
#: (20,000); each event poller runs up to 10 invocations at once, and at least 2 pollers stay (the default minimum).
ESM_PROVISIONED_SCALE_UP_PER_MINUTE = 1000
ESM_PROVISIONED_MAX_CONCURRENCY = 20_000
ESM_PROVISIONED_INVOCATIONS_PER_POLLER = 10
ESM_PROVISIONED_DEFAULT_MIN_POLLERS = 2
#: MaximumPollers when ProvisionedPollerConfig leaves it out (SQS): 200 pollers, 2,000 invocations at once.
ESM_PROVISIONED_DEFAULT_MAX_POLLERS = 200
#: Messages one queue may hold in flight (received, not yet deleted): about 120,000 on a standard queue, 20,000
#: on a FIFO queue (SQS Developer Guide, "Amazon SQS message quotas",
#: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html); past it
#: ReceiveMessage returns OverLimit.
SQS_MAX_IN_FLIGHT_STANDARD = 120_000
SQS_MAX_IN_FLIGHT_FIFO = 20_000
#: Write and read request units a second a new on-demand table (and a new GSI) sustains at once (DynamoDB
#: Developer Guide, "DynamoDB on-demand capacity mode", initial throughput; "Understanding warm throughput":
#: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html,
#: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput.html).
DYNAMODB_ON_DEMAND_INITIAL_WRITES_PER_SECOND = 4000
DYNAMODB_ON_DEMAND_INITIAL_READS_PER_SECOND = 12_000
#: On-demand takes up to this multiple of the previous peak at once; a higher peak reached within this many
#: seconds may be throttled (the same page: "double the previous peak within 30 minutes").
DYNAMODB_ON_DEMAND_PEAK_MULTIPLE = 2
DYNAMODB_ON_DEMAND_PEAK_WINDOW_SECONDS = 1800
#: Read units a second one partition serves (writes: DYNAMODB_ITEM_WRITES_PER_SECOND), ("Best practices for
#: designing and using partition keys effectively",
#: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html).
DYNAMODB_PARTITION_READS_PER_SECOND = 3000
#: Default per-table throughput quota of an on-demand table, in request units a second, reads and writes each
#: ("Service, account, and table quotas", throughput default quotas; adjustable:
#: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html).
DYNAMODB_TABLE_DEFAULT_MAX_UNITS_PER_SECOND = 40_000
#: One DynamoDB request's latency, in milliseconds: the "single-digit millisecond performance at any scale" of
#: https://aws.amazon.com/dynamodb/, read at its upper end (a latency sum in docs/benchmarks.md, not a limit).
DYNAMODB_REQUEST_LATENCY_MS = 10.0

# --- API Gateway HTTP API (API Gateway Developer Guide, "Quotas for configuring and running an HTTP API") --------
#: Longest an HTTP API waits for its integration, in seconds (the quota's maximum, 30 s); the REST API function
#: times out a second earlier (squall.cdk.constructs.api).
HTTP_API_INTEGRATION_TIMEOUT_SECONDS = 30
