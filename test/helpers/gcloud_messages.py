"""Checks JSON documents against the API messages gcloud itself sends (test/helpers/gcloud.ts).

Run with the Python gcloud runs on, given the SDK's lib directory. Each stdin line is a JSON object
{"api", "version", "type", "value"}; the value is decoded into that message class of gcloud's
generated client (apitools, as `--policy-from-file` or `--config-from-file` decode it), and every
field the message does not have, and every enum value it does not know, at any depth, is reported.
One JSON line per document on stdout: {"problems": [...]}. gcloud decodes leniently (unknown
fields are carried along, and the API refuses them later, online), which is why this is checked here.
"""
import json
import sys

sys.path.insert(0, sys.argv[1])
import gcloud as gcloud_py  # noqa: E402

sys.path = gcloud_py.reorder_sys_path(sys.path)
gcloud_py._fix_google_module()
from apitools.base.protorpclite import messages  # noqa: E402
from apitools.base.py import encoding  # noqa: E402
from googlecloudsdk.api_lib.util import apis  # noqa: E402


def problems_of(msg, path):
    found = []
    for name in msg.all_unrecognized_fields():
        found.append("%s.%s: no such field" % (path, name))
    for field in msg.all_fields():
        value = msg.get_assigned_value(field.name)
        if value is None:
            continue
        values = value if field.repeated else [value]
        for i, v in enumerate(values):
            where = "%s.%s%s" % (path, field.name, "[%d]" % i if field.repeated else "")
            if isinstance(field, messages.MessageField) and isinstance(v, messages.Message):
                found.extend(problems_of(v, where))
    return found


for line in sys.stdin:
    doc = json.loads(line)
    try:
        cls = getattr(apis.GetMessagesModule(doc["api"], doc["version"]), doc["type"])
        msg = encoding.PyValueToMessage(cls, doc["value"])
        problems = problems_of(msg, doc["type"])
    except Exception as exc:  # noqa: BLE001  a bad enum value, a wrong type
        problems = ["%s: %s" % (type(exc).__name__, exc)]
    print(json.dumps({"problems": problems}), flush=True)
