"""The annotation workflow over a worklist's annotations: progress and review statuses,
statistics, exports, and label changes that rename annotations.

It sits above both ``worklists`` (the containers and their label schemas) and ``annotations``
(which are checked against those schemas when created).
"""
