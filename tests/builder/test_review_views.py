"""Review pages through HTTP: transitions, refusals (status + message), comments, history, inbox."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from builder import review
from builder.models import Comment, Sequence, Step
from tests.builder.reviewkit import edit, fresh
from tests.conftest import make_user, mark_published

pytestmark = pytest.mark.django_db
Status = Sequence.Status


def url(name, sequence, *args):
    return reverse(name, args=[sequence.pk, *args])


def page(response):
    return response.content.decode()


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


def as_user(client, user):
    client.force_login(user)
    return client


# --- access -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "args"),
    [("sequence_review", []), ("sequence_history", []), ("sequence_revision", [1])],
)
def test_pages_require_login_and_are_readable_by_any_member(
    client, viewer, example_sequence, name, args
):
    target = url(name, example_sequence, *args)
    assert client.get(target)["Location"].startswith(reverse("login"))

    assert as_user(client, viewer).get(target).status_code == 200


@pytest.mark.parametrize(
    ("name", "args", "tab"),
    [
        ("sequence_review", [], "Review"),
        ("sequence_history", [], "History"),
        ("sequence_revision", [1], "History"),  # a revision is a page of the history
    ],
)
def test_the_header_marks_the_tab_the_page_names(logged_in, example_sequence, name, args, tab):
    html = page(logged_in.get(url(name, example_sequence, *args)))
    assert html.count('aria-current="page"') == 1
    assert f'aria-current="page">{tab}</a>' in html


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("sequence_submit", []),
        ("sequence_approve", []),
        ("sequence_request_changes", []),
        ("sequence_comment_add", []),
        ("sequence_comment_resolve", [1]),
        ("sequence_revision_restore", [1]),
    ],
)
def test_mutations_are_post_only_and_need_csrf(user, example_sequence, name, args):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    target = url(name, example_sequence, *args)

    assert strict.get(target).status_code == 405
    assert strict.post(target).status_code == 403
    assert fresh(example_sequence).status == Status.DRAFT


def test_unknown_sequence_or_revision_is_404(logged_in, example_sequence):
    assert logged_in.get("/sequences/999999/review/").status_code == 404
    assert logged_in.get(url("sequence_revision", example_sequence, 42)).status_code == 404
    assert logged_in.post(url("sequence_revision_restore", example_sequence, 42)).status_code == 404


# --- header: tabs and state buttons -----------------------------------------------------------
def test_every_sequence_page_has_review_and_history_tabs(logged_in, example_sequence):
    html = page(logged_in.get(url("sequence_edit", example_sequence)))

    assert f'href="{url("sequence_review", example_sequence)}">Review</a>' in html
    assert f'href="{url("sequence_history", example_sequence)}">History</a>' in html
    assert ">Submit for review</button>" in html


def test_header_buttons_of_another_role_are_hidden_with_the_reason(client, reviewer, in_review):
    # Issue 11: a person sees only the buttons their roles allow (it used to show them
    # disabled); the sentence saying who may use them stays.
    html = page(as_user(client, reviewer).get(url("sequence_edit", in_review)))
    assert '<button type="submit" class="primary">Approve</button>' in html

    editor = make_user(type(reviewer), "ed", "Editor")
    html = page(as_user(client, editor).get(url("sequence_edit", in_review)))
    assert ">Approve</button>" not in html
    assert ">Request changes</button>" not in html
    assert 'id="review-why-1">Only Reviewers can approve or request changes.</p>' in html
    assert "Submit for review" not in html  # not a button of this state


def test_publish_link_only_for_publishers_of_approved_sequences(client, approved, publisher, user):
    publish_url = url("sequence_publish", approved)
    html = page(as_user(client, publisher).get(url("sequence_review", approved)))
    assert f'<a class="button primary" href="{publish_url}">Publish to Close</a>' in html

    html = page(as_user(client, user).get(url("sequence_review", approved)))
    assert f'href="{publish_url}">Publish to Close' not in html
    assert "Only Publishers can publish to Close." in html


# --- transitions through the views ------------------------------------------------------------
def test_submit(logged_in, valid):
    response = logged_in.post(url("sequence_submit", valid), follow=True)

    assert response.redirect_chain[-1][0] == url("sequence_review", valid)
    assert fresh(valid).status == Status.IN_REVIEW
    assert "is in review. Reviewers have been emailed." in messages_of(response)[0]


def test_submit_refusals_are_403_with_the_message(client, reviewer, example_sequence, user):
    response = as_user(client, reviewer).post(url("sequence_submit", example_sequence))
    assert response.status_code == 403
    assert "Only Editors can submit a sequence for review." in page(response)

    response = as_user(client, user).post(url("sequence_submit", example_sequence))
    assert response.status_code == 403
    assert "2 problems must be fixed first" in page(response)
    assert "Fix 2 problems before submitting" in page(response)
    assert fresh(example_sequence).status == Status.DRAFT


def test_approve(client, in_review, reviewer):
    response = as_user(client, reviewer).post(
        url("sequence_approve", in_review), {"revision": in_review.version}, follow=True
    )

    assert fresh(in_review).status == Status.APPROVED
    assert f"Approved revision {in_review.version}." in messages_of(response)[0]


def test_author_approving_own_revision_is_403(client, valid, editor_reviewer):
    review.submit_for_review(sequence=valid, user=editor_reviewer)
    version = fresh(valid).version

    response = as_user(client, editor_reviewer).post(
        url("sequence_approve", valid), {"revision": version}
    )

    assert response.status_code == 403
    assert f"You saved revision {version}, which is part of the changes under review." in page(
        response
    )
    assert fresh(valid).status == Status.IN_REVIEW


def test_approving_a_stale_revision_is_403(client, in_review, reviewer, user):
    looked_at = in_review.version
    edit(in_review, user, delay=2 * 86400)
    review.submit_for_review(sequence=fresh(in_review), user=user)

    response = as_user(client, reviewer).post(
        url("sequence_approve", in_review), {"revision": looked_at}
    )

    assert response.status_code == 403
    assert f"You are approving revision {looked_at}, but the current revision is" in page(response)
    assert fresh(in_review).status == Status.IN_REVIEW


def test_approve_by_a_non_reviewer_is_403(logged_in, in_review):
    response = logged_in.post(url("sequence_approve", in_review), {"revision": in_review.version})

    assert response.status_code == 403
    assert "Only Reviewers can approve" in page(response)


@pytest.mark.parametrize("value", ["", "abc", "1.5"])
def test_approve_with_a_broken_form_is_400(client, in_review, reviewer, value):
    response = as_user(client, reviewer).post(
        url("sequence_approve", in_review), {"revision": value}
    )

    assert response.status_code == 400
    assert "The form is out of date. Reload the page." in page(response)


def test_request_changes(client, in_review, reviewer):
    response = as_user(client, reviewer).post(
        url("sequence_request_changes", in_review), {"comment": "Wait <b>two</b> days"}, follow=True
    )

    assert fresh(in_review).status == Status.CHANGES_REQUESTED
    html = page(response)
    assert "Wait &lt;b&gt;two&lt;/b&gt; days" in html  # open comment, escaped
    assert "<b>two</b>" not in html


def test_request_changes_without_a_comment_is_400(client, in_review, reviewer):
    response = as_user(client, reviewer).post(
        url("sequence_request_changes", in_review), {"comment": "   "}
    )

    assert response.status_code == 400
    assert "Say what should change: the comment is required." in page(response)
    assert fresh(in_review).status == Status.IN_REVIEW


def test_request_changes_by_an_editor_is_403(logged_in, in_review):
    response = logged_in.post(url("sequence_request_changes", in_review), {"comment": "x"})

    assert response.status_code == 403
    assert not Comment.objects.exists()


def test_refused_request_keeps_what_was_typed(client, in_review, reviewer, user):
    edit(in_review, user, delay=2 * 86400)  # the editor saved meanwhile: back to draft

    response = as_user(client, reviewer).post(
        url("sequence_request_changes", in_review), {"comment": "Please shorten"}
    )

    assert response.status_code == 403
    assert "this one is draft" in page(response)


def test_publishing_an_unapproved_sequence_is_refused_through_the_publish_view(
    client, in_review, publisher, sandbox
):
    """The publish page (issue 6) asks review.assert_can_publish before anything is sent."""
    response = as_user(client, publisher).post(
        url("sequence_publish", in_review), {"status": "", "version": in_review.version}
    )

    assert response.status_code in (403, 409)
    assert "Only an approved sequence can be published; this one is in review." in page(response)
    assert sandbox.created_payloads == []
    assert fresh(in_review).status == Status.IN_REVIEW


def test_publishing_by_a_non_publisher_is_403(logged_in, approved, sandbox):
    response = logged_in.post(
        url("sequence_publish", approved), {"status": "", "version": approved.version}
    )

    assert response.status_code == 403
    assert "Only Publishers can publish to Close." in page(response)
    assert sandbox.created_payloads == []


# --- the review page --------------------------------------------------------------------------
def test_pages_work_for_a_sequence_without_revisions(logged_in, valid):
    valid.revisions.all().delete()  # as seed_demo or old data may leave it

    review_page = page(logged_in.get(url("sequence_review", valid)))
    history_page = page(logged_in.get(url("sequence_history", valid)))

    assert "The whole sequence" in review_page and "Step 3 added" in review_page
    assert "No revisions recorded yet" in history_page


def test_first_review_shows_everything_since_creation(client, in_review, reviewer):
    html = page(as_user(client, reviewer).get(url("sequence_review", in_review)))

    assert "Changes since revision 1 (when it was created)" in html
    assert "Step 1 added" in html and "Step 3 added" in html
    assert "Email · wait 1 day · “Intro” · starts a new thread" in html


def test_re_review_shows_exactly_the_fix(client, in_review, reviewer, user):
    looked_at = in_review.version
    review.request_changes(sequence=in_review, user=reviewer, comment="Two days")
    edit(in_review, user, delay=2 * 86400)
    review.submit_for_review(sequence=fresh(in_review), user=user)

    response = as_user(client, reviewer).get(url("sequence_review", in_review))
    fix = response.context["fix_changes"]

    assert response.context["fixed_from"].number == looked_at
    assert fix.headlines() == ["Step 2: wait 1 day → 2 days"]
    assert f"Changed since changes were requested on revision {looked_at}" in page(response)


def test_review_after_publish_diffs_against_the_published_revision(
    client, approved, publisher, user, reviewer
):
    mark_published(approved, close_sequence={"id": "seq_1", "steps": []}, user=publisher)
    edit(approved, user, name="My Sequence v2")

    response = as_user(client, reviewer).get(url("sequence_review", approved))

    assert response.context["changes"].headlines() == ["Name: My Sequence → My Sequence v2"]
    assert "(the published revision)" in page(response)


def test_template_swap_shows_the_text_diff(client, in_review, reviewer, user):
    from tests.conftest import EXAMPLE_EMAIL_2

    review.approve(sequence=in_review, user=reviewer, revision_number=in_review.version)
    edit(in_review, user, email_template_id=EXAMPLE_EMAIL_2)

    html = page(as_user(client, reviewer).get(url("sequence_review", in_review)))

    assert "Template text: “Intro” → “Follow-up”" in html
    assert "Quick question about your team." in html
    assert "Following up on my note." in html


def test_user_text_is_escaped_everywhere(client, in_review, reviewer, user):
    review.approve(sequence=in_review, user=reviewer, revision_number=in_review.version)
    edit(in_review, user, name="<script>alert(1)</script>")
    review.add_comment(sequence=in_review, user=reviewer, body="<img src=x onerror=alert(1)>")

    for name in ("sequence_review", "sequence_history"):
        html = page(as_user(client, reviewer).get(url(name, in_review)))
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    html = page(client.get(url("sequence_review", in_review)))
    assert "<img src=x" not in html


def test_review_page_queries_do_not_grow(client, in_review, reviewer, user):
    as_user(client, reviewer).get(url("sequence_review", in_review))  # warm the session
    root = review.add_comment(sequence=in_review, user=reviewer, body="first")
    review.add_comment(sequence=in_review, user=user, body="reply", parent_id=root.pk)
    with CaptureQueriesContext(connection) as small:
        client.get(url("sequence_review", in_review))

    Step.objects.bulk_create(
        Step(sequence=in_review, position=i, step_type="call") for i in range(3, 50)
    )
    for number in range(20):
        review.add_comment(sequence=in_review, user=reviewer, body=f"c{number}")
        review.add_comment(
            sequence=in_review, user=user, body="r", parent_id=Comment.objects.last().pk
        )
    sequence = fresh(in_review)
    with sequence.editing(user=user, loaded_version=sequence.version):
        pass
    review.submit_for_review(sequence=fresh(in_review), user=user)
    with CaptureQueriesContext(connection) as large:
        response = client.get(url("sequence_review", in_review))

    assert "Step 50 added" in page(response)
    assert len(large.captured_queries) == len(small.captured_queries)


# --- comments ---------------------------------------------------------------------------------
def test_comment_on_a_step_shows_on_the_review_page(client, valid, reviewer):
    second = valid.ordered_steps()[1]

    response = as_user(client, reviewer).post(
        url("sequence_comment_add", valid), {"body": "Two days?", "step": second.pk}, follow=True
    )

    assert response.redirect_chain[-1][0].endswith("#comments")
    html = page(response)
    assert "on Step 2 · Email" in html and "Two days?" in html
    assert "Comment added." in messages_of(response)


def test_comment_via_htmx_returns_the_comments_fragment(client, valid, reviewer):
    response = as_user(client, reviewer).post(
        url("sequence_comment_add", valid), {"body": "Line one\nLine two"}, HTTP_HX_REQUEST="true"
    )

    html = page(response)
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="comments"')
    assert "<html" not in html
    assert "Line one<br>Line two" in html
    assert "Comment added." in html


def test_bad_comment_via_htmx_is_shown_in_the_fragment(client, valid, reviewer):
    response = as_user(client, reviewer).post(
        url("sequence_comment_add", valid), {"body": "  ", "step": ""}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 422  # swapped like a 200 (base.html's htmx-config)
    assert 'role="alert">Write a comment first.</p>' in page(response)


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"body": ""}, 400, "Write a comment first."),
        ({"body": "x", "step": "999999"}, 400, "That step is not in this sequence any more."),
        ({"body": "x", "parent": "abc"}, 400, "That comment does not exist any more."),
    ],
)
def test_bad_comments_are_refused(client, valid, reviewer, data, status, message):
    response = as_user(client, reviewer).post(url("sequence_comment_add", valid), data)

    assert response.status_code == status
    assert message in page(response)
    assert not Comment.objects.exists()


def test_viewer_cannot_comment_and_sees_no_comment_form(client, valid, viewer):
    as_user(client, viewer)
    response = client.post(url("sequence_comment_add", valid), {"body": "hi"})

    assert response.status_code == 403
    assert "Only team members with a role" in page(response)
    assert "Add comment" not in page(client.get(url("sequence_review", valid)))


def test_reply_and_resolve(client, valid, reviewer, user):
    root = review.add_comment(sequence=valid, user=reviewer, body="Why?")
    as_user(client, user)

    client.post(url("sequence_comment_add", valid), {"body": "Because", "parent": root.pk})
    response = client.post(url("sequence_comment_resolve", valid, root.pk), follow=True)

    root.refresh_from_db()
    assert root.replies.get().body == "Because"
    assert root.resolved_by == user
    html = page(response)
    assert "No open comments." in html
    assert "1 resolved comment" in html


def test_resolving_an_unknown_comment_is_400(logged_in, valid):
    response = logged_in.post(url("sequence_comment_resolve", valid, 999999))

    assert response.status_code == 400


def test_comment_on_a_moved_step_says_where_it_is_now(client, valid, reviewer, user):
    second = valid.ordered_steps()[1]
    review.add_comment(sequence=valid, user=reviewer, body="?", step_id=second.pk)
    sequence = fresh(valid)
    with sequence.editing(user=user, loaded_version=sequence.version):
        Step.objects.filter(pk=second.pk).update(position=5)

    html = page(as_user(client, reviewer).get(url("sequence_review", valid)))

    assert "on Step 2 · Email (now step 3)" in html


# --- history and revisions --------------------------------------------------------------------
def test_history_lists_revisions_with_who_and_what_changed(client, approved, user, reviewer):
    edit(approved, user, delay=2 * 86400, summary="Longer wait")

    response = as_user(client, reviewer).get(url("sequence_history", approved))

    rows = response.context["rows"]
    assert [row["revision"].number for row in rows] == [3, 2, 1]
    assert rows[0]["headlines"] == ["Step 2: wait 1 day → 2 days"]
    assert rows[0]["is_current"]
    assert "approved" in rows[1]["moves"]
    assert rows[2]["headlines"] == ["First recorded revision: 0 steps, Mon–Fri 09:00–16:59"]
    html = page(response)
    assert "Longer wait" in html and "alice" in html
    assert f'href="{url("sequence_revision", approved, 2)}">Revision 2</a>' in html


@pytest.mark.parametrize("value", ["abc", "0", "99"])
def test_history_bad_page_is_400(logged_in, example_sequence, value):
    response = logged_in.get(url("sequence_history", example_sequence), {"page": value})

    assert response.status_code == 400
    assert "There is no such page of revisions." in page(response)


def test_history_queries_do_not_grow_with_revisions(logged_in, valid, user):
    edit(valid, user, delay=86400)
    logged_in.get(url("sequence_history", valid))  # warm the session
    with CaptureQueriesContext(connection) as small:
        logged_in.get(url("sequence_history", valid))
    for days in range(2, 30):
        edit(valid, user, delay=days * 86400)
    with CaptureQueriesContext(connection) as large:
        response = logged_in.get(url("sequence_history", valid))

    assert len(response.context["rows"]) == 30
    assert len(large.captured_queries) == len(small.captured_queries)


def test_revision_page_is_read_only_and_shows_what_restoring_changes(logged_in, valid, user):
    edit(valid, user, delay=2 * 86400)
    edit(valid, user, delay=5 * 86400)

    html = page(logged_in.get(url("sequence_revision", valid, 2)))

    assert "Email · wait 2 days · “Intro” · starts a new thread" in html
    assert "What restoring this revision would change" in html
    assert "5 days" in html and "2 days" in html
    assert "<input" not in html.split('class="restore-form"')[0].split("Revision 2")[-1]


def test_restore_through_the_page(logged_in, valid, user):
    edit(valid, user, delay=2 * 86400)
    edit(valid, user, delay=5 * 86400)
    version = fresh(valid).version

    response = logged_in.post(
        url("sequence_revision_restore", valid, 2), {"version": version}, follow=True
    )

    assert response.redirect_chain[-1][0] == url("sequence_history", valid)
    assert f"Restored revision 2 as the new revision {version + 1}." in messages_of(response)[0]
    assert fresh(valid).ordered_steps()[1].delay == 2 * 86400


def test_restore_of_an_approved_sequence_says_it_is_back_to_draft(logged_in, approved):
    response = logged_in.post(
        url("sequence_revision_restore", approved, 1), {"version": approved.version}, follow=True
    )

    assert (
        "It was approved, so it is back to draft and needs a new review."
        in (messages_of(response)[0])
    )


def test_restore_refusals(client, valid, user, other_user, reviewer):
    edit(valid, user, delay=2 * 86400)
    loaded = fresh(valid).version
    edit(valid, other_user, delay=3 * 86400)

    response = as_user(client, user).post(
        url("sequence_revision_restore", valid, 1), {"version": loaded}
    )
    assert response.status_code == 409
    assert "bob saved this sequence" in page(response)

    response = client.post(url("sequence_revision_restore", valid, 1), {"version": "x"})
    assert response.status_code == 400

    response = as_user(client, reviewer).post(
        url("sequence_revision_restore", valid, 1), {"version": fresh(valid).version}
    )
    assert response.status_code == 403
    assert "Only Editors can change sequences" in page(response)
    html = page(client.get(url("sequence_revision", valid, 1)))
    assert "Restore this revision</button>" not in html  # hidden from non-editors (issue 11)
    assert "Only Editors can restore a revision." in html
    assert fresh(valid).ordered_steps()[1].delay == 3 * 86400


# --- inbox ------------------------------------------------------------------------------------
def test_inbox_filters_the_list(client, in_review, reviewer, user):
    draft = Sequence.create_draft(name="Still a draft", timezone_name="UTC", user=user)
    as_user(client, reviewer)

    response = client.get(reverse("sequence_list"), {"inbox": "waiting-for-my-review"})

    assert response.status_code == 200
    names = [s.name for s in response.context["sequences"]]
    assert names == ["My Sequence"]
    html = page(response)
    assert f'href="{url("sequence_review", in_review)}">My Sequence</a>' in html
    assert 'aria-current="page">Waiting for my review <span class="count">1</span>' in html
    assert draft.name not in html


def test_inbox_empty_filter_says_so(logged_in, example_sequence):
    response = logged_in.get(reverse("sequence_list"), {"inbox": "approved-not-published"})

    assert "No approved sequence is waiting to be published." in page(response)


def test_unknown_inbox_filter_is_400_with_the_choices(logged_in, example_sequence):
    response = logged_in.get(reverse("sequence_list"), {"inbox": "<mine>"})

    assert response.status_code == 400
    html = page(response)
    assert "“&lt;mine&gt;” is not a list filter. Choose one of “Waiting for my review”" in html
    assert list(response.context["sequences"]) == []


def test_list_without_filter_is_unchanged(logged_in, example_sequence):
    response = logged_in.get(reverse("sequence_list"))

    assert response.status_code == 200
    assert [s.name for s in response.context["sequences"]] == ["My Sequence"]
    assert 'aria-current="page">All sequences</a>' in page(response)


def test_the_header_tag_presents_actions_the_view_passes_and_never_works_them_out():
    """A page naming its tab must pass the review actions (the tag only presents them)."""
    from django.template import Context, Template, TemplateSyntaxError
    from django.test import RequestFactory

    tag = Template("{% load review_tags %}{% review_actions sequence %}")
    request = RequestFactory().get("/")
    with pytest.raises(TemplateSyntaxError, match="review_actions"):
        tag.render(Context({"request": request, "sequence": None, "active_tab": "history"}))
