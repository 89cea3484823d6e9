"""The shared moto of harness.moto_shared, checked before the Part 2 tests build on it: what
the state machines do in-process (mock_aws, the interpreter) and what the function does
over HTTP (ThreadedMotoServer) meet in the same backends, for every service the function
uses: SQS, S3 (path-style, as the function addresses it), EventBridge (a rule with an SQS
target) and Step Functions task tokens (heartbeat and failure reach the waiting execution,
the failure's cause intact). No release binary: a boto3 client of the server plays the
function. Run: .venv/bin/python -m pytest e2e/test_part2_shared_moto.py -q -p no:cacheprovider
"""

from __future__ import annotations

import json

from harness import RuntimeApi, wait_until
from harness.moto_shared import CALLBACK_URI, SharedMoto


def test_the_function_and_the_state_machines_see_the_same_moto():
    with RuntimeApi() as runtime, SharedMoto(runtime) as moto:
        assert moto.endpoint.startswith("http://127.0.0.1:")
        sqs, remote_sqs = moto.client("sqs"), moto.server_client("sqs")

        # SQS: a queue created in-process is the server's, and messages cross both ways.
        url = sqs.create_queue(QueueName="shared-check")["QueueUrl"]
        assert url.endswith("/123456789012/shared-check")
        assert [u.rsplit("/", 1)[1] for u in remote_sqs.list_queues()["QueueUrls"]] == ["shared-check"]
        remote_sqs.send_message(QueueUrl=url, MessageBody="from the function")
        got = sqs.receive_message(QueueUrl=url)["Messages"]
        assert [m["Body"] for m in got] == ["from the function"]
        sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])

        # S3, path-style through the server, in-process for the state machine's ItemReader.
        s3, remote_s3 = moto.client("s3"), moto.server_client("s3")
        s3.create_bucket(Bucket="shared-bucket")
        remote_s3.put_object(Bucket="shared-bucket", Key="kendra-waiter/x.json", Body=b"[1,2]")
        assert json.loads(s3.get_object(Bucket="shared-bucket", Key="kendra-waiter/x.json")["Body"].read()) == [1, 2]
        s3.put_object(Bucket="shared-bucket", Key="manifests/m.json", Body=b'["a"]')
        assert remote_s3.get_object(Bucket="shared-bucket", Key="manifests/m.json")["Body"].read() == b'["a"]'

        # EventBridge: an event put through the server follows an in-process rule to SQS.
        events_url = sqs.create_queue(QueueName="shared-events")["QueueUrl"]
        events_arn = sqs.get_queue_attributes(QueueUrl=events_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events = moto.client("events")
        events.put_rule(Name="kendra-waiter-all", EventPattern=json.dumps({"source": ["kendra-waiter"]}))
        events.put_targets(Rule="kendra-waiter-all", Targets=[{"Id": "q", "Arn": events_arn}])
        answer = moto.server_client("events").put_events(
            Entries=[{"Source": "kendra-waiter", "DetailType": "Kendra Documents Indexed", "Detail": '{"batchId": "b"}', "EventBusName": "default"}]
        )
        assert answer["FailedEntryCount"] == 0
        delivered = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=events_url, MaxNumberOfMessages=10)["Messages"]]
        assert [(e["detail-type"], e["detail"]) for e in delivered] == [("Kendra Documents Indexed", {"batchId": "b"})]

        # Step Functions: the callback state machine waits in the interpreter; the token sent
        # through the server reaches it (heartbeat accepted, failure with its cause kept).
        machine = moto.create_state_machine(CALLBACK_URI, CheckQueueUrl=url)
        execution = moto.start(machine, {"indexId": "x", "documents": ["a"]})
        messages = wait_until(lambda: remote_sqs.receive_message(QueueUrl=url).get("Messages"), 20, "the batch with its task token")
        token = json.loads(messages[0]["Body"])["taskToken"]
        remote_sfn = moto.server_client("stepfunctions")
        remote_sfn.send_task_heartbeat(taskToken=token)
        cause = json.dumps([{"documentId": "a", "status": "FAILED"}])
        remote_sfn.send_task_failure(taskToken=token, error="DocumentsFailed", cause=cause)
        end = moto.wait(execution, 20)
        assert end.status == "FAILED" and end.error == "DocumentsFailed", end
        assert json.loads(end.cause) == [{"documentId": "a", "status": "FAILED"}]
        assert [(c.kind, c.token, c.answer) for c in moto.tasks.calls] == [("heartbeat", token, None), ("failure", token, None)]
        assert moto.tasks.calls[1].cause == cause
        # A token nobody waits for any more is refused, as AWS does.
        try:
            remote_sfn.send_task_heartbeat(taskToken=token)
        except remote_sfn.exceptions.ClientError as e:  # moto answers InvalidToken / TaskTimedOut
            refused = e.response["Error"]["Code"]
        else:
            refused = None
        assert refused in ("InvalidToken", "TaskDoesNotExist", "TaskTimedOut"), refused
