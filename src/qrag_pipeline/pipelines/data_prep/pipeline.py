"""data_prep: stories, distractor text and benchmark files -> training pools and the
evaluation episodes of every enabled benchmark (BabiLong, RULER NIAH, HotpotQA)."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    build_babilong_eval_episodes,
    build_hotpotqa_episode_sets,
    build_ruler_eval_episodes,
    collect_eval_episodes,
    load_babi_stories,
    load_distractor_sentences,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                load_babi_stories,
                inputs=[
                    "params:data_prep.stories",
                    "params:data_prep.babilong.tasks",
                    "params:data_prep.seed",
                ],
                outputs=["babi_train_stories", "babi_test_stories"],
                name="load_babi_stories",
            ),
            Node(
                load_distractor_sentences,
                inputs=["params:data_prep.distractors", "params:data_prep.seed"],
                outputs=["train_distractor_sentences", "test_distractor_sentences"],
                name="load_distractor_sentences",
            ),
            Node(
                build_babilong_eval_episodes,
                inputs=[
                    "babi_test_stories",
                    "test_distractor_sentences",
                    "params:data_prep.babilong",
                    "params:data_prep.benchmarks",
                    "params:data_prep.seed",
                ],
                outputs="babilong_eval_episodes",
                name="build_babilong_eval_episodes",
            ),
            Node(
                build_ruler_eval_episodes,
                inputs=[
                    "test_distractor_sentences",
                    "params:data_prep.ruler",
                    "params:data_prep.benchmarks",
                    "params:data_prep.seed",
                ],
                outputs="ruler_eval_episodes",
                name="build_ruler_eval_episodes",
            ),
            Node(
                build_hotpotqa_episode_sets,
                inputs=["params:data_prep.hotpotqa", "params:data_prep.benchmarks", "params:data_prep.seed"],
                outputs=["hotpotqa_train_episodes", "hotpotqa_eval_episodes"],
                name="build_hotpotqa_episode_sets",
            ),
            Node(
                collect_eval_episodes,
                inputs=["babilong_eval_episodes", "ruler_eval_episodes", "hotpotqa_eval_episodes"],
                outputs="eval_episodes",
                name="collect_eval_episodes",
            ),
        ]
    )
