using Twin.Grains.Domain;
using Twin.WorkOrders;

namespace Twin.Grains.Tests.Domain;

public class WorkOrderLifecycleTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);
    private static readonly WorkOrderDefinition Definition = new("panel", 100, null, [new BomLine("steel", 2, "bin-1")]);

    public static TheoryData<WorkOrderStatus, WorkOrderStatus, bool> Transitions()
    {
        var legal = new HashSet<(WorkOrderStatus, WorkOrderStatus)>
        {
            (WorkOrderStatus.Created, WorkOrderStatus.Released),
            (WorkOrderStatus.Created, WorkOrderStatus.Cancelled),
            (WorkOrderStatus.Released, WorkOrderStatus.InProgress),
            (WorkOrderStatus.Released, WorkOrderStatus.Cancelled),
            (WorkOrderStatus.InProgress, WorkOrderStatus.Completed),
            (WorkOrderStatus.InProgress, WorkOrderStatus.Cancelled),
        };
        var data = new TheoryData<WorkOrderStatus, WorkOrderStatus, bool>();
        foreach (var from in Enum.GetValues<WorkOrderStatus>())
        {
            foreach (var to in Enum.GetValues<WorkOrderStatus>())
            {
                if (from != to)
                {
                    data.Add(from, to, legal.Contains((from, to)));
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Transitions))]
    public void Only_the_lifecycle_transitions_are_allowed(WorkOrderStatus from, WorkOrderStatus to, bool legal)
    {
        var state = new WorkOrderState();
        WorkOrderLifecycle.Create(state, Definition, T0);
        state.Status = from;
        if (legal)
        {
            Assert.True(WorkOrderLifecycle.Move(state, to, T0, "tester", null));
            Assert.Equal(to, state.Status);
            Assert.Equal(to, state.History[^1].To);
        }
        else
        {
            var ex = Assert.Throws<TwinRuleException>(() => WorkOrderLifecycle.Move(state, to, T0, null, null));
            Assert.Equal("workorder.illegal-transition", ex.Code);
            Assert.Contains(from.ToString(), ex.Message, StringComparison.Ordinal);
            Assert.Equal(from, state.Status);
        }
    }

    [Fact]
    public void Creating_twice_with_the_same_definition_is_a_no_op()
    {
        var state = new WorkOrderState();
        Assert.True(WorkOrderLifecycle.Create(state, Definition, T0));
        Assert.False(WorkOrderLifecycle.Create(state, Definition with { Bom = [new BomLine("steel", 2, "bin-1")] }, T0));
        Assert.Equal(1, state.Version);
    }

    [Fact]
    public void The_definition_may_change_only_while_created()
    {
        var state = new WorkOrderState();
        WorkOrderLifecycle.Create(state, Definition, T0);
        Assert.True(WorkOrderLifecycle.Create(state, Definition with { Quantity = 200 }, T0));
        WorkOrderLifecycle.Move(state, WorkOrderStatus.Released, T0, null, null);
        var ex = Assert.Throws<TwinRuleException>(() => WorkOrderLifecycle.Create(state, Definition with { Quantity = 300 }, T0));
        Assert.Equal("workorder.illegal-transition", ex.Code);
        Assert.Equal(200, state.Definition!.Quantity);
    }

    [Fact]
    public void Moving_to_the_current_status_is_an_idempotent_no_op()
    {
        var state = new WorkOrderState();
        WorkOrderLifecycle.Create(state, Definition, T0);
        WorkOrderLifecycle.Move(state, WorkOrderStatus.Released, T0, null, null);
        Assert.False(WorkOrderLifecycle.Move(state, WorkOrderStatus.Released, T0, null, null));
        Assert.Equal(2, state.Version);
    }

    [Fact]
    public void Invalid_definitions_list_every_field()
    {
        var errors = WorkOrderLifecycle.Validate(new WorkOrderDefinition("", 0, null, [new BomLine("", 0, "bad id")]));
        Assert.Contains(errors, e => e.StartsWith("product", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("quantity", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("bom[0].sku", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("bom[0].quantityPerUnit", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("bom[0].sourceBin", StringComparison.Ordinal));
    }

    [Fact]
    public void Moving_an_order_never_created_is_not_found()
    {
        var ex = Assert.Throws<TwinRuleException>(() => WorkOrderLifecycle.Move(new WorkOrderState(), WorkOrderStatus.Released, T0, null, null));
        Assert.True(ex.IsNotFound);
    }
}
