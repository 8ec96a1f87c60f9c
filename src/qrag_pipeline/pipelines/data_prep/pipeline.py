"""data_prep: stories and distractor text -> training pools + BabiLong eval episodes."""

from kedro.pipeline import Node, Pipeline

from .nodes import build_babilong_eval_episodes, load_babi_stories, load_distractor_sentences


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                load_babi_stories,
                inputs=["params:data_prep.stories", "params:data_prep.babilong.tasks", "params:data_prep.seed"],
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
                    "params:data_prep.seed",
                ],
                outputs="babilong_eval_episodes",
                name="build_babilong_eval_episodes",
            ),
        ]
    )
