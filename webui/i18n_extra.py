"""More English/中文 texts for the WebUI, added with the 中文 translation of every text the UI
shows; webui/i18n.py merges them into its TEXT (a key may be in only one of the two tables).
Kept apart so the two tables merge easily while others add texts to i18n.py."""
from __future__ import annotations

MORE: dict[str, dict[str, str]] = {
    # --- a field's help line (webui/forms.py info()) ----------------------------------------
    "field_info": {"en": "{help} ({tail})", "zh": "{help}（{tail}）"},
    "default_is": {"en": "Default: {value}", "zh": "默认：{value}"},
    "list_sep": {"en": ", ", "zh": "，"},
    "two_sentences": {"en": "{a} {b}", "zh": "{a}{b}"},  # 中文 puts no space after "。"
    # --- the Train tab --------------------------------------------------------------------------
    "no_remote_code": {"en": "trust_remote_code is never set from the WebUI.",
                       "zh": "WebUI 从不设置 trust_remote_code。"},
    "bool_true": {"en": "true", "zh": "是"},
    "bool_false": {"en": "false", "zh": "否"},
    "default_empty": {"en": "Default: (empty)", "zh": "默认为空"},
    # --- the Runs tab -------------------------------------------------------------------------
    "stopping_saving": {"en": "stopping · saving a checkpoint", "zh": "停止中 · 正在保存检查点"},
    # --- the Data tab's check report and length chart ----------------------------------------
    "stat_min": {"en": "min", "zh": "最小"},
    "stat_mean": {"en": "mean", "zh": "平均"},
    "stat_p50": {"en": "p50", "zh": "中位数"},
    "stat_p95": {"en": "p95", "zh": "P95"},
    "stat_max": {"en": "max", "zh": "最大"},
    "axis_tokens": {"en": "tokens", "zh": "Token 数"},
    # --- charts ------------------------------------------------------------------------------
    "trace_loss": {"en": "loss", "zh": "损失"},
    # --- ages in the Runs table ("4 min ago") -------------------------------------------------
    "unit_d": {"en": "d", "zh": "天"},
    "unit_h": {"en": "h", "zh": "小时"},
    "unit_min": {"en": "min", "zh": "分钟"},
    "unit_s": {"en": "s", "zh": "秒"},
    # --- the cache line of the Runs tab (webui/tabs/runs_cache.py, core/cache.py) -------------
    "cache_line": {"en": "Cache outside saves/ ({path}): reference log-probs {ref}, demo model "
                         "{demo}, benchmarks {bench}. Runs compute what is missing again.",
                   "zh": "saves/ 之外的缓存（{path}）：参考对数概率 {ref}，演示模型 {demo}，"
                         "基准测试 {bench}。缺少的部分训练时会重新计算。"},
    "clear_ref_cache": {"en": "Clear reference log-probs", "zh": "清除参考对数概率"},
    "cache_cleared": {"en": "Removed {size} of reference log-probs.",
                      "zh": "已删除 {size} 的参考对数概率。"},
    # --- chat and evaluation ------------------------------------------------------------------
    "chat_message": {"en": "Message", "zh": "消息"},
    "base_model": {"en": "base", "zh": "基座"},
}
