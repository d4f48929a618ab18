"""A domain error names the fields at fault through one helper, in the shape the API renders."""

from django.core.exceptions import ValidationError

from infra.errors import InvalidInput, LoyaltyError


class TooFew(LoyaltyError):
    code = "too_few"
    message = "Too few."


def test_for_field_gives_the_field_the_errors_own_message():
    error = TooFew.for_field("points")

    assert (error.code, str(error.message), error.fields) == ("too_few", "Too few.", {"points": ["Too few."]})


def test_for_field_takes_a_field_message_and_the_other_arguments():
    error = InvalidInput.for_field("phone", "Bind a phone first.", code="phone_required", message="Not yet.")

    assert (error.code, str(error.message), error.fields) == (
        "phone_required",
        "Not yet.",
        {"phone": ["Bind a phone first."]},
    )


def test_a_message_alone_is_also_the_fields_message():
    error = InvalidInput.for_field("quantity", message="Only the stock left can be taken away.")

    assert error.fields == {"quantity": ["Only the stock left can be taken away."]}


def test_for_fields_names_each_field_with_the_same_error():
    error = InvalidInput.for_fields(["provider", "transaction_id"], "This field is required.")

    assert error.fields == {"provider": ["This field is required."], "transaction_id": ["This field is required."]}


def test_for_validation_error_names_each_field_of_a_model_validation_with_its_messages():
    error = InvalidInput.for_validation_error(
        ValidationError({"name": ["This field is required."], "events": ["Choose one.", "Unknown events: x."]})
    )

    assert error.fields == {"name": ["This field is required."], "events": ["Choose one.", "Unknown events: x."]}
