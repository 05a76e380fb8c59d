from django.urls import path

from rapport.sales.views import board, config, deal_lines, deals, deals_list, leads, public, work

app_name = "sales"
urlpatterns = [
    path("", board.board_default, name="index"),
    path("pipeline/", board.board_default, name="board_default"),
    path("pipelines/", board.pipeline_list, name="pipeline_list"),
    path("pipelines/<int:pipeline_id>/", board.board, name="board"),
    path(
        "pipelines/<int:pipeline_id>/column/<int:stage_id>/",
        board.board_column,
        name="board_column",
    ),
    path("pipelines/<int:pipeline_id>/analytics/", board.analytics, name="analytics"),
    path(
        "pipelines/<int:pipeline_id>/settings/", board.pipeline_settings, name="pipeline_settings"
    ),
    path("deals/", deals_list.deal_list, name="deal_list"),
    path("deals/new/", deals.deal_create, name="deal_create"),
    path("deals/<int:deal_id>/", deals.deal_detail, name="deal_detail"),
    path("deals/<int:deal_id>/edit/", deals.deal_edit, name="deal_edit"),
    path("deals/<int:deal_id>/archive/", deals.deal_archive, name="deal_archive"),
    path("deals/<int:deal_id>/lines/", deal_lines.deal_lines, name="deal_lines"),
    path("deals/<int:deal_id>/lines/add/", deal_lines.deal_line_add, name="deal_line_add"),
    path(
        "deals/<int:deal_id>/lines/<int:line_id>/",
        deal_lines.deal_line_edit,
        name="deal_line_edit",
    ),
    path(
        "deals/<int:deal_id>/lines/<int:line_id>/remove/",
        deal_lines.deal_line_remove,
        name="deal_line_remove",
    ),
    path("deals/<int:deal_id>/move/", board.deal_move, name="deal_move"),
    path("deals/<int:deal_id>/undo/", board.deal_undo, name="deal_undo"),
    path("leads/", leads.lead_list, name="lead_list"),
    path("leads/new/", leads.lead_create, name="lead_create"),
    path("leads/<int:contact_id>/", leads.lead_detail, name="lead_detail"),
    path("leads/<int:contact_id>/convert/", leads.lead_convert, name="lead_convert"),
    path("leads/<int:contact_id>/assign/", leads.lead_assign, name="lead_assign"),
    path("leads/<int:contact_id>/rescore/", leads.lead_rescore, name="lead_rescore"),
    path("scoring/", config.scoring_rules, name="scoring_rules"),
    path("scoring/rules/<int:rule_id>/", config.scoring_rule_edit, name="scoring_rule_edit"),
    path("scoring/model/", config.scoring_model, name="scoring_model"),
    path("conditions/check/", config.condition_check, name="condition_check"),
    path("assignment/", config.assignment_rules, name="assignment_rules"),
    path(
        "assignment/rules/<int:rule_id>/",
        config.assignment_rule_edit,
        name="assignment_rule_edit",
    ),
    path("forms/", config.webform_list, name="webform_list"),
    path("forms/new/", config.webform_create, name="webform_create"),
    path("forms/<int:form_id>/", config.webform_detail, name="webform_detail"),
    path("forms/<int:form_id>/edit/", config.webform_edit, name="webform_edit"),
    path("forms/embed.js", public.webform_script, name="webform_script"),
    path("forms/<uuid:public_id>/", public.webform_public, name="webform_public"),
    path("forms/<uuid:public_id>/submit", public.webform_submit, name="webform_submit"),
    path("my-day/", work.my_day, name="my_day"),
    path("tasks/new/", work.task_create, name="task_create"),
    path("tasks/quick/", work.task_quick_add, name="task_quick_add"),
    path("tasks/<int:task_id>/", work.task_edit, name="task_edit"),
    path("tasks/<int:task_id>/complete/", work.task_complete, name="task_complete"),
    path("tasks/<int:task_id>/reopen/", work.task_reopen, name="task_reopen"),
    path("notifications/", work.notifications, name="notifications"),
    path(
        "notifications/<int:notification_id>/read/",
        work.notification_read,
        name="notification_read",
    ),
]
