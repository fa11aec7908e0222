using System.Collections.Immutable;
using Twin.Grains.Domain;
using Twin.Grains.Products;
using Twin.Products;
using Twin.WorkOrders;

namespace Twin.Grains.Tests.Plm;

/// <summary>Which work order gets which treatment from an engineering change, and the material split when a running order switches.</summary>
public class PlmRulesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);
    private static readonly ImmutableArray<BomLine> BomA = [new BomLine("steel", 2, "bin-steel")];
    private static readonly ImmutableArray<BomLine> BomB = [new BomLine("alu", 1.5m, "bin-alu"), new BomLine("bolt", 4, "bin-bolts")];

    private static EngineeringChangeOrder Change(DateTimeOffset? effective = null, string product = "panel") =>
        new("ECO-17", product, "B", BomB, effective ?? T0, T0);

    private static WorkOrderState Order(WorkOrderStatus status, long quantity = 100, long good = 0, DateTimeOffset? due = null)
    {
        var state = new WorkOrderState();
        WorkOrderLifecycle.Create(state, new WorkOrderDefinition("panel", quantity, due, BomA, Revision: "A"), T0);
        if (status != WorkOrderStatus.Created)
        {
            WorkOrderLifecycle.Move(state, status == WorkOrderStatus.Cancelled ? WorkOrderStatus.Cancelled : WorkOrderStatus.Released, T0, "erp", null);
        }

        if (status is WorkOrderStatus.InProgress or WorkOrderStatus.Completed)
        {
            WorkOrderLifecycle.RecordProduction(state, new ProductionReport("r1", "m", status == WorkOrderStatus.Completed ? quantity : good, 0, T0), T0);
        }

        Assert.Equal(status, state.Status);
        return state;
    }

    [Fact]
    public void An_unreleased_order_switches_to_the_new_bom_and_revision()
    {
        var state = Order(WorkOrderStatus.Created);
        var (answer, changed) = EngineeringChangeRules.Apply(state, Change(), T0.AddMinutes(1));

        Assert.True(changed);
        Assert.Equal(EngineeringChangeTreatment.Switched, answer.Treatment);
        Assert.Equal("A", answer.FromRevision);
        Assert.Equal(BomB.ToArray(), state.Definition!.Bom.ToArray());
        Assert.Equal("B", state.Definition.Revision);
        Assert.Null(state.PendingChange);
        var entry = Assert.Single(state.EngineeringChanges);
        Assert.Equal(("switched", "A", "B"), (entry.Outcome, entry.FromRevision, entry.ToRevision));
        Assert.Equal(BomA.ToArray(), entry.EarlierBom.ToArray());
        Assert.Equal([new EngineeringChangeNeed("bin-alu", "alu", 150), new EngineeringChangeNeed("bin-bolts", "bolt", 400)], answer.Remaining.ToArray());
    }

    [Theory]
    [InlineData(WorkOrderStatus.Released)]
    [InlineData(WorkOrderStatus.InProgress)]
    public void A_released_or_running_order_keeps_its_bom_and_is_flagged(WorkOrderStatus status)
    {
        var state = Order(status, good: 30);
        var version = state.Version;
        var (answer, changed) = EngineeringChangeRules.Apply(state, Change(), T0.AddMinutes(1));

        Assert.True(changed);
        Assert.Equal(EngineeringChangeTreatment.Flagged, answer.Treatment);
        Assert.Equal(BomA.ToArray(), state.Definition!.Bom.ToArray());
        Assert.Equal("A", state.Definition.Revision);
        Assert.Equal(("ECO-17", "A", "B"), (state.PendingChange!.ChangeId, state.PendingChange.FromRevision, state.PendingChange.ToRevision));
        Assert.Equal(version + 1, state.Version);
    }

    [Theory]
    [InlineData(WorkOrderStatus.Completed, "completed")]
    [InlineData(WorkOrderStatus.Cancelled, "cancelled")]
    public void A_finished_order_is_not_affected(WorkOrderStatus status, string note)
    {
        var state = Order(status);
        var version = state.Version;
        var (answer, changed) = EngineeringChangeRules.Apply(state, Change(), T0.AddMinutes(1));

        Assert.False(changed);
        Assert.Equal((EngineeringChangeTreatment.NotAffected, note), (answer.Treatment, answer.Note));
        Assert.Equal(BomA.ToArray(), state.Definition!.Bom.ToArray());
        Assert.Equal(version, state.Version);
    }

    [Fact]
    public void An_order_due_before_the_effectivity_keeps_its_revision_and_one_due_at_it_switches()
    {
        var effective = T0.AddDays(5);
        var early = Order(WorkOrderStatus.Created, due: effective.AddTicks(-1));
        var onTime = Order(WorkOrderStatus.Created, due: effective);
        var undated = Order(WorkOrderStatus.Created);

        Assert.Equal(EngineeringChangeTreatment.NotAffected, EngineeringChangeRules.Apply(early, Change(effective), T0).Answer.Treatment);
        Assert.Equal("A", early.Definition!.Revision);
        Assert.Equal(EngineeringChangeTreatment.Switched, EngineeringChangeRules.Apply(onTime, Change(effective), T0).Answer.Treatment);
        // Without a due date the order is judged when the change is applied, which is before a future effectivity.
        var (undatedAnswer, _) = EngineeringChangeRules.Apply(undated, Change(effective), T0);
        Assert.Equal(EngineeringChangeTreatment.NotAffected, undatedAnswer.Treatment);
        Assert.StartsWith("no due date, judged at the change's time 2026-11-26T08:00:00", undatedAnswer.Note, StringComparison.Ordinal);
        Assert.Equal(EngineeringChangeTreatment.Switched, EngineeringChangeRules.Apply(undated, Change(T0), T0).Answer.Treatment);
    }

    [Fact]
    public void An_order_of_another_product_or_already_on_the_revision_is_not_affected()
    {
        var state = Order(WorkOrderStatus.Created);
        Assert.Equal(EngineeringChangeTreatment.NotAffected, EngineeringChangeRules.Apply(state, Change(product: "door"), T0).Answer.Treatment);
        Assert.Equal(EngineeringChangeTreatment.NotAffected, EngineeringChangeRules.Apply(state, Change() with { ChangeId = "ECO-0", Revision = "A" }, T0).Answer.Treatment);
        Assert.Empty(state.EngineeringChanges);
    }

    [Fact]
    public void A_repeated_change_answers_as_the_first_time_and_changes_nothing()
    {
        var created = Order(WorkOrderStatus.Created);
        EngineeringChangeRules.Apply(created, Change(), T0);
        var version = created.Version;
        var (again, changed) = EngineeringChangeRules.Apply(created, Change(), T0.AddMinutes(5));
        Assert.False(changed);
        Assert.Equal(EngineeringChangeTreatment.Switched, again.Treatment);
        Assert.Equal(version, created.Version);

        var running = Order(WorkOrderStatus.InProgress, good: 10);
        EngineeringChangeRules.Apply(running, Change(), T0);
        EngineeringChangeRules.Decide(running, switchBom: true, "anna", T0.AddMinutes(1));
        Assert.Equal(EngineeringChangeTreatment.Flagged, EngineeringChangeRules.Apply(running, Change(), T0.AddMinutes(2)).Answer.Treatment);
        Assert.Null(running.PendingChange);
    }

    [Fact]
    public void Switching_a_running_order_keeps_what_was_backflushed_and_uses_the_new_bom_for_the_rest()
    {
        var state = Order(WorkOrderStatus.InProgress, quantity: 100, good: 40);
        // The 40 parts made so far backflushed 80 steel under revision A.
        var issued = state.Outbox.Select(e => e.Message).OfType<Twin.Grains.Infrastructure.MovementMessage>().ToList();
        Assert.Equal([("bin-steel", 80m)], issued.Select(m => (m.Bin, m.Movement.Quantity)).ToArray());

        EngineeringChangeRules.Apply(state, Change(), T0);
        Assert.True(EngineeringChangeRules.Decide(state, switchBom: true, "anna", T0.AddMinutes(1)));

        Assert.Null(state.PendingChange);
        Assert.Equal("B", state.Definition!.Revision);
        Assert.Equal(BomB.ToArray(), state.Definition.Bom.ToArray());
        var entry = state.EngineeringChanges[^1];
        Assert.Equal(("switch", "anna", 40L), (entry.Outcome, entry.By, entry.GoodAtSwitch));
        Assert.Equal([new EngineeringChangeNeed("bin-steel", "steel", 80)], EngineeringChangeRules.Consumed(entry.EarlierBom, entry.GoodAtSwitch).ToArray());
        Assert.Equal([new EngineeringChangeNeed("bin-alu", "alu", 90), new EngineeringChangeNeed("bin-bolts", "bolt", 240)], EngineeringChangeRules.Remaining(state.Definition.Bom, 100, state.Good).ToArray());

        // The next parts backflush the new BOM; the earlier issue is untouched.
        WorkOrderLifecycle.RecordProduction(state, new ProductionReport("r2", "m", 10, 0, T0), T0);
        var after = state.Outbox.Select(e => e.Message).OfType<Twin.Grains.Infrastructure.MovementMessage>().Select(m => (m.Bin, m.Movement.Quantity)).ToArray();
        Assert.Equal([("bin-steel", 80m), ("bin-alu", 15m), ("bin-bolts", 40m)], after);
    }

    [Fact]
    public void Keeping_clears_the_pending_change_and_a_repeat_of_the_decision_is_a_no_op()
    {
        var state = Order(WorkOrderStatus.Released);
        EngineeringChangeRules.Apply(state, Change(), T0);
        Assert.True(EngineeringChangeRules.Decide(state, switchBom: false, "ben", T0));
        Assert.Null(state.PendingChange);
        Assert.Equal("A", state.Definition!.Revision);
        Assert.Equal(BomA.ToArray(), state.Definition.Bom.ToArray());
        Assert.False(EngineeringChangeRules.Decide(state, switchBom: false, "ben", T0));
        var refused = Assert.Throws<TwinRuleException>(() => EngineeringChangeRules.Decide(state, switchBom: true, "ben", T0));
        Assert.Equal("engineering-change.none-pending", refused.Code);
    }

    [Fact]
    public void Completing_a_flagged_order_leaves_nothing_to_decide()
    {
        var state = Order(WorkOrderStatus.InProgress, quantity: 10, good: 5);
        EngineeringChangeRules.Apply(state, Change(), T0);
        WorkOrderLifecycle.RecordProduction(state, new ProductionReport("r2", "m", 5, 0, T0), T0);
        Assert.Equal(WorkOrderStatus.Completed, state.Status);
        Assert.Null(state.PendingChange);
    }

    [Fact]
    public void Validation_names_the_fields()
    {
        var change = new EngineeringChange("ECO 1", "panel", "", T0, [new BomLine("", 0, "bin/x")], null, null, null);
        var errors = EngineeringChangeLimits.Validate(change);
        Assert.Equal(["bom[0].quantityPerUnit", "bom[0].sku", "bom[0].sourceBin", "changeId", "revision"], errors.Keys.Order(StringComparer.Ordinal).ToArray());
        Assert.Contains("bom", EngineeringChangeLimits.Validate(change with { Bom = [] }).Keys);
    }

    [Fact]
    public void The_revision_in_effect_is_the_latest_whose_effectivity_has_passed()
    {
        ProductRevision Revision(string id, DateTimeOffset effective) => new(id, BomA, null, effective, "ECO-" + id, null, null, T0);
        var revisions = new[] { Revision("A", T0.AddDays(-10)), Revision("C", T0.AddDays(10)), Revision("B", T0.AddDays(-1)) };
        Assert.Equal("B", EngineeringChangeRules.Current(revisions, T0)!.Revision);
        Assert.Equal("C", EngineeringChangeRules.Current(revisions, T0.AddDays(10))!.Revision);
        Assert.Null(EngineeringChangeRules.Current(revisions, T0.AddDays(-20)));
    }
}
