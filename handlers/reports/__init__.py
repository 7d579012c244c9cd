"""Coverage at a glance: the monthly report (`shegong report monthly`), the leads' and supervisors' chat
commands, and the dashboard on the web.

area.py        the four-level chain: a report's and a supervisor's scope
monthly.py     the report as a pure computation (definitions in its docstring and the README)
store.py       supervisors, and the facts a report is computed from
service.py     build_report: facts + the reminders' overdue items → the report dict
chat.py        short texts; router.py the chat commands; xlsx.py the workbook; admin.py the commands
web.py         the dashboard (pages.py its HTML, svg.py its charts, static/ its stylesheet)
"""
