"""Deploy a synthesized cloud assembly into moto's CloudFormation, served on 127.0.0.1 for other processes too.

As in tests/infra/test_cdk_moto_deploy.py, two stand-ins are needed: each zip asset is uploaded where the
bootstrap stack's bucket would hold it (``cdk deploy`` publishes it there), and the Powertools layer's public SSM
parameter is pointed at one moto lets us create (it refuses PutParameter under the reserved ``/aws/`` prefix).
moto's own event source mappings would invoke the functions in Docker: they are disabled once deployed, and the
caller stands in for Lambda's poller.
"""

from __future__ import annotations

import copy
import io
import json
import re
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer
from wheel_support import Assembly

REGION = "us-east-1"
#: Credentials moto accepts, as environment variables; no real account is ever reached (every client names the
#: local endpoint).
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}
#: Where the Powertools layer's ARN is read from instead of ``/aws/service/powertools/...``.
LAYER_STAND_IN = "/test/powertools-layer"
LAYER_ARN = f"arn:aws:lambda:{REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-arm64:1"


@dataclass(frozen=True)
class Deployed:
    """A stack as moto created it: its endpoint, outputs, resource types, and the types moto skipped."""

    endpoint: str
    account: str
    outputs: dict[str, str]
    resource_types: set[str]
    skipped_types: set[str]

    def client(self, service: str) -> Any:
        """A boto3 client of ``service`` on the moto server."""
        session = boto3.Session(
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=CREDENTIALS["AWS_SESSION_TOKEN"],
            region_name=REGION,
        )
        # Any: boto3-stubs types only the services the SDK uses, not s3, lambda or cloudformation.
        return session.client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]

    def unpack(self, assembly: Assembly, code: dict[str, Any], directory: Path) -> Path:
        """The code a function's ``Code`` names, unzipped from the bootstrap bucket into ``directory``, as Lambda
        unpacks it into /var/task."""
        _, destination = assembly.asset(code)
        body = self.client("s3").get_object(Bucket=bucket_name(destination, self.account), Key=code["S3Key"])["Body"]
        zipfile.ZipFile(io.BytesIO(body.read())).extractall(directory)
        return directory


@contextmanager
def moto_server() -> Iterator[str]:
    """moto on a free port of 127.0.0.1 for the block's duration; its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _zipped(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(directory))
    return buffer.getvalue()


def bucket_name(destination: dict[str, Any], account: str) -> str:
    """The bootstrap bucket an asset manifest's destination names, in moto's account and Region."""
    return str(destination["bucketName"]).replace("${AWS::AccountId}", account).replace("${AWS::Region}", REGION)


def deploy(assembly: Assembly, endpoint: str) -> Deployed:
    """Create ``assembly``'s stack on the moto server at ``endpoint`` and disable its event source mappings."""
    unbound = Deployed(endpoint, "", {}, set(), set())
    account = unbound.client("sts").get_caller_identity()["Account"]
    s3 = unbound.client("s3")
    files = json.loads((assembly.outdir / f"{assembly.stack}.assets.json").read_text())["files"]
    for asset in files.values():
        if asset["source"].get("packaging") != "zip":
            continue
        for destination in asset["destinations"].values():
            bucket = bucket_name(destination, account)
            if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
                s3.create_bucket(Bucket=bucket)
            body = _zipped(assembly.outdir / asset["source"]["path"])
            s3.put_object(Bucket=bucket, Key=destination["objectKey"], Body=body)
    ssm = unbound.client("ssm")
    ssm.put_parameter(Name="/cdk-bootstrap/hnb659fds/version", Value="30", Type="String")
    ssm.put_parameter(Name=LAYER_STAND_IN, Value=LAYER_ARN, Type="String")
    template = copy.deepcopy(assembly.template)
    for parameter in template["Parameters"].values():
        if parameter["Default"].startswith("/aws/service/powertools/"):
            parameter["Default"] = LAYER_STAND_IN
    cloudformation = unbound.client("cloudformation")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cloudformation.create_stack(
            StackName=assembly.stack, TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"]
        )
    skipped = {m.group(1) for w in caught if (m := re.search(r"parse (AWS::\S+) but", str(w.message)))}
    (stack,) = cloudformation.describe_stacks(StackName=assembly.stack)["Stacks"]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise AssertionError(f"{assembly.stack}: {stack['StackStatus']} ({stack.get('StackStatusReason')})")
    resources = cloudformation.list_stack_resources(StackName=assembly.stack)["StackResourceSummaries"]
    lambda_ = unbound.client("lambda")
    for mapping in lambda_.list_event_source_mappings()["EventSourceMappings"]:
        lambda_.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    return Deployed(
        endpoint,
        account,
        {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
        {r["ResourceType"] for r in resources},
        skipped,
    )
