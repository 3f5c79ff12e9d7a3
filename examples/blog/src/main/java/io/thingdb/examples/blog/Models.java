package io.thingdb.examples.blog;

import io.thingdb.core.Prop;
import io.thingdb.core.RelationType;
import io.thingdb.core.ThingType;

/**
 * The blog's data model: four thing types and two vote relations. Each type becomes a {@code
 * thing_<name>} table plus a {@code data_<name>} table of props, created when the {@link
 * io.thingdb.core.ThingDb} is built; adding a prop later needs no migration.
 *
 * <p>Ids that point at other things (a link's community, a comment's link) are plain {@code int64}
 * props: nothing joins across types in SQL, which is what lets comments live on another database.
 * Immutable constants; thread-safe.
 */
public final class Models {
  private Models() {}

  // ---------------------------------------------------------------- account

  /** Login name, as typed at signup (unique, compared lower-case). */
  public static final Prop<String> NAME = Prop.string("name", "");

  /** Lower-case login name, the key of the name lookup. */
  public static final Prop<String> NAME_LOWER = Prop.string("name_lower", "");

  /** {@code pbkdf2_sha256$<iterations>$<salt>$<hash>}; empty for accounts that cannot log in. */
  public static final Prop<String> PASSWORD = Prop.string("password", "");

  /** Administrators may mark other accounts as spammers. */
  public static final Prop<Boolean> ADMIN = Prop.bool("admin", false);

  /** Shadow ban: this account's new posts and comments are created as spam. */
  public static final Prop<Boolean> SPAMMER = Prop.bool("spammer", false);

  /**
   * The account's session generation: every session cookie carries the generation it was issued at,
   * and only cookies of the current generation are accepted. Logout and a password change increment
   * it (in SQL), which revokes every copy of every earlier cookie.
   */
  public static final Prop<Long> SESSION_GENERATION = Prop.int64("session_generation", 0);

  /** Whether others may see the links this account voted up; private unless the account opts in. */
  public static final Prop<Boolean> SHOW_UPVOTES = Prop.bool("show_upvotes", false);

  /** A user account. */
  public static final ThingType ACCOUNT =
      ThingType.named("account")
          .props(NAME, NAME_LOWER, PASSWORD, ADMIN, SPAMMER, SESSION_GENERATION, SHOW_UPVOTES)
          .build();

  // ---------------------------------------------------------------- community

  /** A community's name in URLs ({@code /r/<name>}), lower-case. */
  public static final Prop<String> COMMUNITY_NAME = Prop.string("name", "");

  /** One line shown under the community's name. */
  public static final Prop<String> DESCRIPTION = Prop.string("description", "");

  /** A community: just another thing type. */
  public static final ThingType COMMUNITY =
      ThingType.named("community").props(COMMUNITY_NAME, DESCRIPTION).build();

  // ---------------------------------------------------------------- link (a post)

  /** The post's title. */
  public static final Prop<String> TITLE = Prop.string("title", "");

  /** The outbound URL; empty for a text post. */
  public static final Prop<String> URL = Prop.string("url", "");

  /** The text of a text post; empty for a link. */
  public static final Prop<String> BODY = Prop.string("body", "");

  /** The author's account id. */
  public static final Prop<Long> AUTHOR = Prop.int64("author", 0);

  /** The community's id: the group of the per-community listings. */
  public static final Prop<Long> COMMUNITY_ID = Prop.int64("community", 0);

  /**
   * Number of comments, recounted from the comments database after each comment, by the sweep of
   * recount marks a dead request left, and whenever a permalink finds it wrong (comments live on
   * another database, so no transaction covers both).
   */
  public static final Prop<Long> NUM_COMMENTS = Prop.int64("num_comments", 0);

  /**
   * The site-wide listing group. Every link keeps the default 0, so it is never stored; the batch
   * recompute of the front page's top/controversial listings groups by it (one group, value 0),
   * just as the per-community recompute groups by {@link #COMMUNITY_ID}.
   */
  public static final Prop<Long> SITE = Prop.int64("site", 0);

  /**
   * The one-time token of the form a post or comment was sent with ({@code <account id>:<random>}):
   * a resubmitted form finds the thing it already created instead of creating a second one.
   */
  public static final Prop<String> FORM_TOKEN = Prop.string("form_token", "");

  /** A post: a link to elsewhere, or a text post. */
  public static final ThingType LINK =
      ThingType.named("link")
          .props(TITLE, URL, BODY, AUTHOR, COMMUNITY_ID, NUM_COMMENTS, SITE, FORM_TOKEN)
          .build();

  // ---------------------------------------------------------------- comment

  /** The comment's text. */
  public static final Prop<String> TEXT = Prop.string("text", "");

  /** The commented link's id. */
  public static final Prop<Long> LINK_ID = Prop.int64("link", 0);

  /** The parent comment's id, 0 for a top-level comment (replies nest one level). */
  public static final Prop<Long> PARENT_ID = Prop.int64("parent", 0);

  /** The author's account id (the same prop name and default as a link's). */
  public static final Prop<Long> COMMENT_AUTHOR = Prop.int64("author", 0);

  /** A comment on a link. */
  public static final ThingType COMMENT =
      ThingType.named("comment")
          .props(TEXT, LINK_ID, PARENT_ID, COMMENT_AUTHOR, FORM_TOKEN)
          .build();

  // ---------------------------------------------------------------- votes

  /** An account's vote on a link; the relation's name is the direction ("1", "0", "-1"). */
  public static final RelationType VOTE_LINK =
      RelationType.named("vote_link").between(ACCOUNT, LINK).build();

  /** An account's vote on a comment; lives with the comments. */
  public static final RelationType VOTE_COMMENT =
      RelationType.named("vote_comment").between(ACCOUNT, COMMENT).build();
}
