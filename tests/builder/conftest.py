"""Fixtures the review, review-view and notification tests share: a valid draft in each state."""

import pytest

from builder import review
from tests.builder.reviewkit import cache_example_templates, fresh
from tests.conftest import make_user


@pytest.fixture
def valid(example_sequence):
    """Close's example with its templates cached: no blocking problems."""
    cache_example_templates()
    return example_sequence


@pytest.fixture
def in_review(valid, user):
    review.submit_for_review(sequence=valid, user=user)
    return fresh(valid)


@pytest.fixture
def approved(in_review, reviewer):
    review.approve(sequence=in_review, user=reviewer, revision_number=in_review.version)
    return fresh(in_review)


@pytest.fixture
def editor_reviewer(django_user_model):
    """Someone with both roles: may edit, may review others' work."""
    return make_user(django_user_model, "erin", "Editor", "Reviewer")
