"""The history encoder: a user's last events in one ORT call, to re-encode states on a new model.

Built directly as an ONNX graph around the standard ``GRU``/``LSTM`` operator, whose
``sequence_lens`` input stops each user at its own history length: torch's exporters cannot
express per-row lengths for a padded batch. The weights are the model's, with the gate blocks
reordered from torch's layout to ONNX's. Histories are left-aligned with PAD after the last
event (see streamrec.export.spec); a user with no events keeps the input state.
"""

from __future__ import annotations

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from streamrec.export import spec
from streamrec.models.data.vocab import PAD
from streamrec.models.nets.gru import RecurrentRecommender


def _blocks(w: np.ndarray, hidden: int, order: tuple[int, ...]) -> np.ndarray:
    """Reorder gate blocks of ``w`` (rows ``len(order) * hidden``) by ``order``."""
    return np.concatenate([w[i * hidden : (i + 1) * hidden] for i in order], axis=0)


# torch GRU gates (r, z, n) -> ONNX (z, r, h); torch LSTM (i, f, g, o) -> ONNX (i, o, f, c)
GRU_ORDER = (1, 0, 2)
LSTM_ORDER = (0, 3, 1, 2)


def build_encode(model: RecurrentRecommender) -> bytes:
    """Serialized encode graph: (items, actions, state) -> state_out; shapes in export.spec."""
    c = model.config
    h = c.hidden_dim
    sd = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    order = GRU_ORDER if c.cell == "gru" else LSTM_ORDER
    w = _blocks(sd["rnn.weight_ih_l0"], h, order)[None]  # (1, G*H, D)
    r = _blocks(sd["rnn.weight_hh_l0"], h, order)[None]  # (1, G*H, H)
    b = np.concatenate(
        [_blocks(sd["rnn.bias_ih_l0"], h, order), _blocks(sd["rnn.bias_hh_l0"], h, order)]
    )[None]  # (1, 2*G*H)
    inits = [
        numpy_helper.from_array(sd["item_embedding.weight"], "item_table"),
        numpy_helper.from_array(sd["action_embedding.weight"], "action_table"),
        numpy_helper.from_array(w, "W"),
        numpy_helper.from_array(r, "R"),
        numpy_helper.from_array(b, "B"),
        numpy_helper.from_array(np.array(PAD, np.int64), "pad"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array([0], np.int64), "axis0"),
        numpy_helper.from_array(np.array([h], np.int64), "split_h"),
    ]
    nodes = [
        helper.make_node("Gather", ["item_table", "items"], ["item_vec"]),
        helper.make_node("Gather", ["action_table", "actions"], ["action_vec"]),
        helper.make_node("Add", ["item_vec", "action_vec"], ["x_btd"]),  # (B, T, D)
        helper.make_node("Transpose", ["x_btd"], ["x"], perm=[1, 0, 2]),  # (T, B, D)
        helper.make_node("Equal", ["items", "pad"], ["is_pad"]),
        helper.make_node("Not", ["is_pad"], ["is_event"]),
        helper.make_node("Cast", ["is_event"], ["event_i32"], to=TensorProto.INT32),
        helper.make_node("ReduceSum", ["event_i32", "axis1"], ["lengths"], keepdims=0),  # (B,)
        helper.make_node("Cast", ["lengths"], ["has_events"], to=TensorProto.BOOL),
        helper.make_node("Unsqueeze", ["has_events", "axis1"], ["has_events_b1"]),
    ]
    if c.cell == "gru":
        nodes += [
            helper.make_node("Unsqueeze", ["state", "axis0"], ["h0"]),  # (1, B, H)
            helper.make_node(
                "GRU",
                ["x", "W", "R", "B", "lengths", "h0"],
                ["", "h_last"],
                hidden_size=h,
                linear_before_reset=1,  # torch applies the reset gate after the matmul
            ),
            helper.make_node("Squeeze", ["h_last", "axis0"], ["encoded"]),
        ]
    else:
        nodes += [
            helper.make_node("Split", ["state", "split_h2"], ["h_flat", "c_flat"], axis=1),
            helper.make_node("Unsqueeze", ["h_flat", "axis0"], ["h0"]),
            helper.make_node("Unsqueeze", ["c_flat", "axis0"], ["c0"]),
            helper.make_node(
                "LSTM",
                ["x", "W", "R", "B", "lengths", "h0", "c0"],
                ["", "h_last", "c_last"],
                hidden_size=h,
            ),
            helper.make_node("Squeeze", ["h_last", "axis0"], ["h_enc"]),
            helper.make_node("Squeeze", ["c_last", "axis0"], ["c_enc"]),
            helper.make_node("Concat", ["h_enc", "c_enc"], ["encoded"], axis=1),
        ]
        inits.append(numpy_helper.from_array(np.array([h, h], np.int64), "split_h2"))
    nodes.append(helper.make_node("Where", ["has_events_b1", "encoded", "state"], ["state_out"]))
    b_axis, t_axis = spec.BATCH_AXIS, spec.TIME_AXIS
    graph = helper.make_graph(
        nodes,
        "streamrec_encode",
        [
            helper.make_tensor_value_info("items", TensorProto.INT64, [b_axis, t_axis]),
            helper.make_tensor_value_info("actions", TensorProto.INT64, [b_axis, t_axis]),
            helper.make_tensor_value_info("state", TensorProto.FLOAT, [b_axis, c.state_size]),
        ],
        [helper.make_tensor_value_info("state_out", TensorProto.FLOAT, [b_axis, c.state_size])],
        initializer=inits,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", spec.OPSET)])
    proto.ir_version = 9
    onnx.checker.check_model(proto, full_check=True)
    return bytes(proto.SerializeToString())


@torch.inference_mode()
def reference_encode(
    model: RecurrentRecommender, items: np.ndarray, actions: np.ndarray, state: np.ndarray
) -> np.ndarray:
    """Torch reference: ``model.encode`` one event at a time, PAD positions keep the state."""
    it, ac = torch.from_numpy(items), torch.from_numpy(actions)
    st = torch.from_numpy(state)
    for t in range(it.shape[1]):
        _, new = model.encode(it[:, t : t + 1], ac[:, t : t + 1], st)
        st = torch.where((it[:, t] != PAD).unsqueeze(1), new, st)
    result: np.ndarray = st.numpy()
    return result


def random_histories(
    rng: np.random.Generator, batch: int, length: int, num_items: int, num_actions: int
) -> tuple[np.ndarray, np.ndarray]:
    """Left-aligned random histories of lengths 0..``length`` (PAD after), with actions."""
    lengths = rng.integers(0, length + 1, batch)
    lengths[0] = length  # at least one full history
    items = np.zeros((batch, length), np.int64)
    for row, n in enumerate(lengths):
        items[row, :n] = rng.integers(1, num_items, n)
    actions = np.where(items != PAD, rng.integers(1, num_actions, (batch, length)), 0)
    return items, actions.astype(np.int64)


def verify_encode(
    encode_onnx: bytes, model: RecurrentRecommender, atol: float, seed: int = 0
) -> dict[str, float]:
    """Max |ORT - torch| of the final state over random histories at several batch sizes."""
    from streamrec.models.inference import create_session

    session = create_session(encode_onnx, provider="cpu")
    c = model.config
    rng = np.random.default_rng(seed)
    worst = 0.0
    for batch, length in ((1, spec.MAX_HISTORY), (13, spec.MAX_HISTORY), (64, 7)):
        items, actions = random_histories(rng, batch, length, c.num_items, c.num_actions)
        state = rng.uniform(-1, 1, (batch, c.state_size)).astype(np.float32)
        if batch == 13:
            state[:] = 0.0  # re-encoding starts from the zero state
        got = session.run(None, {"items": items, "actions": actions, "state": state})[0]
        ref = reference_encode(model, items, actions, state)
        worst = max(worst, float(np.abs(got - ref).max()))
    if worst > atol:
        from streamrec.export.errors import VerificationError

        raise VerificationError(f"encode graph differs from torch by {worst:.2e} > {atol}")
    return {"max_state_diff": worst, "state_atol": atol}
