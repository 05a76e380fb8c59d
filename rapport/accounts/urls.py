from django.urls import path

from rapport.accounts import views, views_admin, views_oidc, views_two_factor

app_name = "accounts"
urlpatterns = [
    path("login/", views.login, name="login"),
    path("login/code/", views_two_factor.login_code, name="login_code"),
    path("login/sso/", views_oidc.oidc_start, name="oidc_start"),
    path("login/sso/callback/", views_oidc.oidc_callback, name="oidc_callback"),
    path("logout/", views.logout, name="logout"),
    path("me/", views.account, name="account"),
    path("me/profile/", views.account_profile, name="account_profile"),
    path("me/password/", views.account_password, name="account_password"),
    path("me/tokens/", views.token_create, name="token_create"),
    path("me/tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
    path("me/sessions/<int:pk>/end/", views.session_end, name="session_end"),
    path("me/sessions/end-others/", views.session_end_others, name="session_end_others"),
    path("me/two-factor/", views_two_factor.two_factor_setup, name="two_factor_setup"),
    path(
        "me/two-factor/recovery-codes/",
        views_two_factor.two_factor_recovery_codes,
        name="two_factor_recovery_codes",
    ),
    path("me/two-factor/off/", views_two_factor.two_factor_off, name="two_factor_off"),
    path("admin/", views_admin.admin_home, name="admin_home"),
    path("admin/users/", views_admin.user_list, name="user_list"),
    path("admin/users/new/", views_admin.user_create, name="user_create"),
    path("admin/users/<int:pk>/", views_admin.user_edit, name="user_edit"),
    path("admin/users/<int:pk>/active/", views_admin.user_set_active, name="user_set_active"),
    path(
        "admin/users/<int:pk>/tokens/<int:token_pk>/revoke/",
        views_admin.user_token_revoke,
        name="user_token_revoke",
    ),
    path("admin/teams/", views_admin.team_list, name="team_list"),
    path("admin/teams/new/", views_admin.team_create, name="team_create"),
    path("admin/teams/<int:pk>/", views_admin.team_edit, name="team_edit"),
    path("admin/roles/", views_admin.role_list, name="role_list"),
    path("admin/roles/new/", views_admin.role_create, name="role_create"),
    path("admin/roles/<int:pk>/", views_admin.role_edit, name="role_edit"),
]
