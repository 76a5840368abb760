"""The ``nasbench.ModelMetrics`` protobuf message, described in code (no ``protoc`` step).

Field numbers and types follow ``nasbench/lib/model_metrics.proto`` (proto2): a ModelMetrics holds
one EvaluationData per evaluation (at step 0, halfway and at the end of training), the trainable
parameter count and the total time. The message class lives in a private descriptor pool, so it
cannot clash with a ``model_metrics_pb2`` imported from the official package in the same process.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto


def _build() -> type:
    proto = descriptor_pb2.FileDescriptorProto(name="nasbench_harness/model_metrics.proto", package="nasbench",
                                               syntax="proto2")
    evaluation = proto.message_type.add(name="EvaluationData")
    for number, name in enumerate(("current_epoch", "training_time", "train_accuracy", "validation_accuracy",
                                   "test_accuracy"), start=1):
        evaluation.field.add(name=name, number=number, type=_F.TYPE_DOUBLE, label=_F.LABEL_OPTIONAL)
    evaluation.field.add(name="checkpoint_path", number=6, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    metrics = proto.message_type.add(name="ModelMetrics")
    metrics.field.add(name="evaluation_data", number=1, type=_F.TYPE_MESSAGE, label=_F.LABEL_REPEATED,
                      type_name=".nasbench.EvaluationData")
    metrics.field.add(name="trainable_parameters", number=2, type=_F.TYPE_INT32, label=_F.LABEL_OPTIONAL)
    metrics.field.add(name="total_time", number=3, type=_F.TYPE_DOUBLE, label=_F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("nasbench.ModelMetrics"))


#: ``ModelMetrics.FromString(bytes)`` parses a record's decoded metrics field.
ModelMetrics = _build()
