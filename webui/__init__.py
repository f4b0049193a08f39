"""PrefStudio's WebUI: thin Gradio views over core/ (python -m webui --help).

app.py builds the page (header, top bar, the tabs in tabs/), forms.py generates the Train form
from core.config.FIELDS, plots.py draws metrics, render.py the chat/report/progress HTML,
i18n.py holds English/中文, workspace.py confines paths to data/ and saves/.
"""
