package io.thingdb.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A thing and a relation share their shape (type, props, version, date, update and create
 * builders): where they share it, they validate the same way and say so in the same words, with the
 * noun of their kind ("type link", "relation type vote"). No database is needed.
 */
class ThingRelationParityTest {
  static final Prop<String> TITLE = Prop.string("title", "");
  static final Prop<Long> WEIGHT = Prop.int64("weight", 1);
  static final Prop<byte[]> BLOB = Prop.bytes("blob", new byte[0]);
  static final ThingType ACCOUNT = ThingType.named("account").build();
  static final ThingType LINK = ThingType.named("link").props(TITLE, BLOB).build();
  static final RelationType VOTE =
      RelationType.named("vote").between(ACCOUNT, LINK).props(WEIGHT, BLOB).build();
  static final Instant DATE = Instant.parse("2026-11-26T12:34:56.123456Z");

  static Thing link(Map<String, Object> props) {
    return new Thing(LINK, 3, 22, 7, 2, false, true, DATE, 9, props);
  }

  static Relation vote(Map<String, Object> props) {
    return new Relation(VOTE, 5, 1, 2, 22, "1", DATE, 4, props);
  }

  static final String THING_MISMATCH =
      "prop 'title' of type link is declared as STRING with default '', but was used"
          + " as STRING with default 'untitled': use the Prop the type was declared with";
  static final String RELATION_MISMATCH =
      "prop 'weight' of relation type vote is declared as LONG with default '1',"
          + " but was used as LONG with default '2': use the Prop the type was declared with";

  @Test
  void aPropDeclaredWithAnotherDefaultIsRefusedAlikeWhenReadUpdatedOrCreated() {
    Prop<String> otherTitle = Prop.string("title", "untitled");
    Prop<Long> otherWeight = Prop.int64("weight", 2);
    Thing thing = link(new LinkedHashMap<>());
    Relation relation = vote(new LinkedHashMap<>());
    assertThatThrownBy(() -> thing.get(otherTitle)).hasMessage(THING_MISMATCH);
    assertThatThrownBy(() -> relation.get(otherWeight)).hasMessage(RELATION_MISMATCH);
    assertThatThrownBy(() -> thing.edit().set(otherTitle, "x")).hasMessage(THING_MISMATCH);
    assertThatThrownBy(() -> relation.edit().set(otherWeight, 5L)).hasMessage(RELATION_MISMATCH);
    assertThatThrownBy(() -> new NewThing(LINK).set(otherTitle, "x")).hasMessage(THING_MISMATCH);
    assertThatThrownBy(() -> new NewRelation(VOTE, 2, 22, "1", false).set(otherWeight, 5L))
        .hasMessage(RELATION_MISMATCH);
  }

  @Test
  void anUndeclaredPropIsRefusedNamingItAndTheDeclaredOnes() {
    Prop<String> nope = Prop.string("nope", "");
    assertThatThrownBy(() -> link(new LinkedHashMap<>()).get(nope))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("unknown prop 'nope' of type link (declared: [title, blob])");
    assertThatThrownBy(() -> vote(new LinkedHashMap<>()).edit().set(nope, "x"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("unknown prop 'nope' of relation type vote (declared: [weight, blob])");
    assertThatThrownBy(() -> LINK.prop("nope"))
        .hasMessage("unknown prop 'nope' of type link (declared: [title, blob])");
    assertThatThrownBy(() -> VOTE.prop("nope"))
        .hasMessage("unknown prop 'nope' of relation type vote (declared: [weight, blob])");
  }

  @Test
  void bothBuildersRefuseADuplicateOrNullPropNamingTheType() {
    assertThatThrownBy(() -> ThingType.named("link").props(TITLE, TITLE))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("type link declares prop 'title' twice");
    assertThatThrownBy(() -> RelationType.named("vote").props(WEIGHT).prop(WEIGHT))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("relation type vote declares prop 'weight' twice");
    assertThatThrownBy(() -> ThingType.named("link").prop(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("type link: prop must not be null");
    assertThatThrownBy(() -> RelationType.named("vote").props(WEIGHT, null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("relation type vote: prop must not be null");
    assertThatThrownBy(() -> ThingType.named("link").props((Prop<?>[]) null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("type link: props must not be null");
    assertThatThrownBy(() -> ThingType.named("Link"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("type name must match [a-z][a-z0-9_]{0,39}: 'Link'");
    assertThatThrownBy(() -> RelationType.named(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("relation type name must not be null");
  }

  @Test
  void aStoredRowOfAnotherKindIsRefusedNamingTheRowAndAnUndeclaredOneIsSkipped() {
    assertThatThrownBy(() -> LINK.storedValue(42, "title", "5", "l"))
        .isInstanceOf(ThingDbException.class)
        .hasMessage("stored prop 'title' of link 42 has kind l but is declared STRING");
    assertThatThrownBy(() -> VOTE.storedValue(7, "weight", "x", "s"))
        .isInstanceOf(ThingDbException.class)
        .hasMessage("stored prop 'weight' of relation vote 7 has kind s but is declared LONG");
    assertThat(LINK.storedValue(42, "gone", "x", "s")).isNull();
    assertThat(VOTE.storedValue(7, "weight", "5", "l")).isEqualTo(5L);
  }

  @Test
  void snapshotsAreEqualByContentAndPrintTheirSharedFieldsFirst() {
    Map<String, Object> a = new LinkedHashMap<>();
    a.put("blob", new byte[] {1, 2});
    Map<String, Object> b = new LinkedHashMap<>();
    b.put("blob", new byte[] {1, 2});
    assertThat(link(a)).isEqualTo(link(b)).hasSameHashCodeAs(link(b));
    assertThat(vote(a)).isEqualTo(vote(b)).hasSameHashCodeAs(vote(b));
    assertThat(vote(a)).isNotEqualTo(new Relation(VOTE, 5, 1, 2, 22, "-1", DATE, 4, b));
    assertThat(link(a)).isNotEqualTo(new Thing(LINK, 3, 22, 7, 3, false, true, DATE, 9, b));
    assertThat(link(a))
        .hasToString("link[" + link(a).fullname() + " v9 ups=7 downs=2 spam [blob]]");
    assertThat(vote(a)).hasToString("vote[" + vote(a).fullname() + " v4 2 -> 22 '1' [blob]]");
  }

  @Test
  void updatesShowTheirSnapshotAndWriteNothingWhenNothingDiffers() {
    Thing thing = link(new LinkedHashMap<>());
    Relation relation = vote(new LinkedHashMap<>());
    assertThat(thing.edit().base()).isSameAs(thing);
    assertThat(relation.edit().base()).isSameAs(relation);
    assertThat(thing.edit().set(TITLE, "").spam(true).isEmpty()).isTrue();
    assertThat(relation.edit().set(WEIGHT, 1L).name("1").isEmpty()).isTrue();
    assertThat(thing.edit().set(TITLE, "x").changedProps()).containsOnlyKeys("title");
    assertThat(relation.edit().set(WEIGHT, 3L).changedProps()).containsOnlyKeys("weight");
    assertThat(thing.edit().set(TITLE, "x"))
        .isEqualTo(thing.edit().set(TITLE, "x"))
        .hasToString("ThingUpdate{" + thing.fullname() + " props=[title]}");
    assertThat(relation.edit().set(WEIGHT, 3L).name("-1"))
        .isEqualTo(relation.edit().set(WEIGHT, 3L).name("-1"))
        .hasToString("RelationUpdate{" + relation.fullname() + " props=[weight] name='-1'}");
  }

  @Test
  void newThingsAndRelationsDropDefaultsTruncateTheDateAndNeedAType() {
    NewThing thing = new NewThing(LINK).set(TITLE, "x").set(TITLE, "").date(DATE.plusNanos(999));
    NewRelation relation =
        new NewRelation(VOTE, 2, 22, "1", false)
            .set(WEIGHT, 5L)
            .set(WEIGHT, 1L)
            .date(DATE.plusNanos(999));
    assertThat(thing.props()).isEmpty();
    assertThat(relation.props()).isEmpty();
    assertThat(thing.date()).isEqualTo(DATE);
    assertThat(relation.date()).isEqualTo(DATE);
    assertThat(thing).hasToString("NewThing{link ups=0 downs=0 []}");
    assertThat(relation.set(WEIGHT, 2L)).hasToString("NewRelation{vote 2 -> 22 '1' [weight]}");
    assertThatThrownBy(() -> new NewThing(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("type must not be null");
    assertThatThrownBy(() -> new NewRelation(null, 2, 22, "1", false))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("type must not be null");
    assertThatThrownBy(() -> thing.date(null)).hasMessage("date must not be null");
    assertThatThrownBy(() -> relation.date(null)).hasMessage("date must not be null");
  }
}
