from django import forms
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.forms import PasswordResetForm

from portal.models import Membership, Role


class EmailLoginForm(forms.Form):
    """Sign in by e-mail: the address names a partner user (never staff, never a customer), then
    Django's authenticate() checks the password, through django-axes, which counts the failures."""

    email = forms.EmailField(
        max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )
    password = forms.CharField(strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))

    error_messages = {"invalid_login": "That e-mail and password do not match a partner account."}

    def __init__(self, request=None, *args, **kwargs):
        self.request = request
        self.user_cache = None
        super().__init__(*args, **kwargs)

    def clean(self):
        email, password = self.cleaned_data.get("email"), self.cleaned_data.get("password")
        if email and password:
            membership = (
                Membership.objects.select_related("user")
                .filter(user__email__iexact=email, user__is_staff=False, user__is_superuser=False)
                .first()
            )
            # Unknown addresses go through authenticate() too, so axes counts every failure alike.
            username = membership.user.get_username() if membership else f"partner:unknown:{email.lower()}"
            self.user_cache = authenticate(self.request, username=username, password=password)
            if self.user_cache is None:
                raise forms.ValidationError(self.error_messages["invalid_login"], code="invalid_login")
        return self.cleaned_data

    def get_user(self):
        return self.user_cache


class PartnerPasswordResetForm(PasswordResetForm):
    """Reset e-mails go to partner users only: a staff or customer address gets nothing."""

    def get_users(self, email):
        User = get_user_model()
        return (
            user
            for user in User.objects.filter(
                email__iexact=email, is_active=True, is_staff=False, is_superuser=False, portal_membership__isnull=False
            )
            if user.has_usable_password()
        )


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class KeyIssueForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, help_text="A label, e.g. “billing robot”.")
    mode = forms.ChoiceField(choices=[("live", "Live"), ("test", "Test")], initial="live")
