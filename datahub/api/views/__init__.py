"""The datahub REST API. Reads need data.view, writes data.edit, in the row's workspace.

One APIView per resource path; each method is one operation with its nested InputSerializer /
OutputSerializer, and calls a selector or a service: the views hold no rules.

- datasets.py: sources, datasets, their records and tags;
- imports.py: import jobs;
- versions.py: dataset versions, their exports, leakage, card and diff.
"""
