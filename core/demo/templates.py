"""Building blocks of the demo dialogues: scripts of beats, speaker names, slot values.

Hand-written because no installed library writes labelled Chinese scam dialogues. Both classes
draw speaker names, amounts, platforms and filler turns from the SAME pools here, so that a
classifier cannot separate them by anything but what is said.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

SCAMMER = "S"
VICTIM = "V"


@dataclass(frozen=True)
class Beat:
    """One turn of a script: a role letter and paraphrases of what that role says."""

    role: str
    lines: tuple[str, ...]
    optional: bool = False
    flags: tuple[str, ...] = ()
    # Optional beats with the same group are kept or dropped together (a question and its answer).
    group: int = 0
    # Linked beats of a script with the same number of lines pick the same line index, so that
    # an answer matches its question; unlinked beats pick freely.
    linked: bool = False
    # Extra flags of each line, where paraphrases show different red flags.
    line_flags: tuple[tuple[str, ...], ...] = ()
    # Lines of the genuine twin of a pair script (same count as `lines`, picked by the same index):
    # the one turn in which the two rows of a hard pair differ.
    twin: tuple[str, ...] = ()

    def flags_of(self, index: int) -> tuple[str, ...]:
        return self.flags + (self.line_flags[index] if self.line_flags else ())


def beat(role: str, *lines: str, opt: bool = False, flags: tuple[str, ...] | str = (),
         group: int = 0, linked: bool = False, each: tuple[str, ...] = (), twin: tuple[str, ...] = ()) -> Beat:
    """`each` gives one extra flag per line (same order as `lines`, "" for none)."""
    flag_tuple = (flags,) if isinstance(flags, str) else tuple(flags)
    if each and len(each) != len(lines):
        raise ValueError(f"beat {lines[0]!r}: {len(each)} line flags for {len(lines)} lines")
    if twin and len(twin) != len(lines):
        raise ValueError(f"beat {lines[0]!r}: {len(twin)} twin lines for {len(lines)} lines")
    line_flags = tuple((flag,) if flag else () for flag in each)
    return Beat(role, tuple(lines), opt or group > 0, flag_tuple, group, linked, line_flags, tuple(twin))


@dataclass(frozen=True)
class Ending:
    """How the other side reacts: "comply", "hesitate", "refuse" (fraud) or "close" (ordinary)."""

    outcome: str
    beats: tuple[Beat, ...]


@dataclass(frozen=True)
class Script:
    """A dialogue plan; `kind` becomes the row's fraud_type, `roles` maps role letter to name kind."""

    kind: str
    roles: dict[str, str]
    beats: tuple[Beat, ...]
    endings: tuple[Ending, ...] = ()
    slots: dict[str, tuple[str, ...]] | None = None
    # Closing clause of a scam row's reason, naming this script's scheme; empty = by `kind`.
    notes: tuple[str, ...] = ()
    # A pair script renders as two rows, a scam and (with each beat's `twin` lines) a genuine
    # conversation of this ordinary kind, differing in one turn.
    twin_kind: str = ""

    @property
    def is_fraud(self) -> bool:
        return SCAMMER in self.roles

    @property
    def is_pair(self) -> bool:
        return bool(self.twin_kind)


# ---------------------------------------------------------------- speaker names (both classes)
SURNAMES = tuple("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦傅方白邹孟熊秦邱江尹薛")
GIVEN_NAMES = (
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明", "超",
    "秀英", "桂英", "建华", "建国", "志强", "海燕", "晓燕", "丽娟", "婷婷", "雪梅", "俊杰", "子涵",
    "浩然", "欣怡", "宇航", "梓轩", "雨桐", "思远", "佳怡", "文博", "晓东", "立新", "春梅", "国庆",
    "红霞", "志刚", "玉兰", "建军", "小红", "晓明", "嘉怡", "一鸣", "诗琪", "明辉", "建辉", "丽君",
    "晨曦", "子豪", "梦洁", "宏伟", "淑珍", "亚楠", "雅琴", "振华", "凤英", "海涛", "鹏飞", "慧敏",
)
# Name kind -> (style, weight). Every kind is used by roles in both classes.
_NAME_STYLES: dict[str, tuple[tuple[str, float], ...]] = {
    "person": (("full", 0.9), ("xiao", 0.05), ("lao", 0.05)),
    "agent": (("full", 0.55), ("客服小", 0.25), ("专员", 0.1), ("经理", 0.1)),
    "boss": (("full", 0.5), ("总", 0.2), ("经理", 0.2), ("主任", 0.1)),
    "official": (("full", 0.55), ("警官", 0.3), ("科长", 0.15)),
    "advisor": (("full", 0.55), ("老师", 0.25), ("经理", 0.2)),
}
NUMBERED_SPEAKER_RATE = 0.12


def speaker_names(rng: random.Random, kinds: dict[str, str]) -> dict[str, str]:
    """Distinct names for the roles of one dialogue; sometimes all of them "发言人N"."""
    if rng.random() < NUMBERED_SPEAKER_RATE:
        numbers = rng.sample(range(1, 10), len(kinds))
        return {role: f"发言人{number}" for role, number in zip(kinds, numbers)}
    names: dict[str, str] = {}
    for role, kind in kinds.items():
        while True:
            styles, weights = zip(*_NAME_STYLES[kind])
            style = rng.choices(styles, weights)[0]
            surname = rng.choice(SURNAMES)
            if style == "full":
                name = surname + rng.choice(GIVEN_NAMES)
            elif style == "xiao":
                name = "小" + surname
            elif style == "lao":
                name = "老" + surname
            elif style == "客服小":
                name = "客服小" + surname
            else:
                name = surname + style
            if name not in names.values():
                names[role] = name
                break
    return names


_TITLES = ("总", "经理", "主任", "警官", "科长", "老师", "专员")


def vocative(rng: random.Random, name: str) -> str:
    """How another speaker addresses `name` at the start of a sentence ("" when anonymous).

    Takes the same two draws whatever the name, so the twins of a hard pair (same draws,
    other names) stay aligned turn for turn.
    """
    silent, pick = rng.random(), rng.random()
    if name.startswith("发言人") or silent < 0.3:
        return ""
    if name.startswith("客服"):
        return "您好，"
    if name.startswith(("小", "老")) or name.endswith(_TITLES):
        return name + "，"
    surname, given = name[0], name[1:]
    options = [name, "小" + surname, "老" + surname, surname + "哥", surname + "姐"]
    if len(given) == 2:
        options.append(given)
    return options[int(pick * len(options))] + "，"


def honorific(rng: random.Random, name: str) -> str:
    """Formal address used by service staff ("张先生，"), "" when the speaker is anonymous."""
    title = "先生" if rng.random() < 0.5 else "女士"  # drawn whatever the name (see vocative)
    if name.startswith("发言人") or not "\u4e00" <= name[0] <= "\u9fff" or name[0] in "小老客":
        return ""
    return name[0] + title + "，"


# ---------------------------------------------------------------- slot values (both classes)
def _money(rng: random.Random, low: int, high: int, step: int) -> str:
    value = rng.randrange(low, high + 1, step)
    if step > 1 and rng.random() < 0.5:
        # Bills and fees are rarely round: without these, "00" alone told scams from chat.
        value += rng.randrange(1, step)
    if value >= 10000 and value % 10000 == 0 and rng.random() < 0.5:
        return f"{value // 10000}万元"
    return f"{value}{rng.choice(('元', '元', '块', '块钱'))}"


SLOT_POOLS: dict[str, tuple[str, ...]] = {
    "shop": ("淘宝", "京东", "拼多多", "抖音商城", "唯品会", "天猫"),
    "pay": ("微信", "支付宝", "银行卡", "云闪付"),
    "bank": ("工商银行", "建设银行", "招商银行", "农业银行", "中国银行", "交通银行"),
    "courier": ("顺丰", "中通", "圆通", "韵达", "京东物流", "EMS"),
    "city": ("杭州", "成都", "武汉", "南京", "西安", "长沙", "广州", "郑州", "苏州", "重庆"),
    "product": ("蓝牙耳机", "羽绒服", "扫地机器人", "空气炸锅", "运动鞋", "平板电脑", "电动牙刷", "行李箱", "咖啡机", "手机"),
    "game": ("王者荣耀", "原神", "和平精英", "梦幻西游", "英雄联盟", "逆水寒"),
    "item": ("限定皮肤", "满级账号", "稀有坐骑", "传说装备", "角色账号"),
    "event": ("演唱会", "音乐节", "话剧", "球赛", "脱口秀"),
    "day": ("周六", "周日", "明天", "后天", "下周一", "下周三", "这周五"),
    "clock": ("上午十点", "下午两点", "下午三点半", "晚上七点", "中午十二点", "晚上八点"),
    "restaurant": ("楼下那家火锅店", "川菜馆", "烤肉店", "日料店", "小区门口的面馆", "湘菜馆"),
    "project": ("新版App", "年度预算", "客户回访", "季度报告", "门店改造", "招聘计划", "系统迁移"),
    "app": ("财富通", "金牛汇", "优选赚", "聚财宝", "鑫盈", "速借宝"),
    "meeting_app": ("会议软件", "屏幕共享软件", "远程协助App"),
    "fund": ("沪深300指数基金", "货币基金", "债券基金", "中证500基金", "国债逆回购"),
    "percent": ("百分之五", "百分之八", "百分之十", "百分之二十", "百分之三十"),
}


class SlotValues(dict):
    """Per-dialogue slot values, drawn on first use so that a repeated slot keeps its value."""

    def __init__(self, rng: random.Random, names: dict[str, str], extra: dict[str, tuple[str, ...]] | None):
        super().__init__()
        self.rng = rng
        self.names = names
        self.extra = extra or {}

    def __missing__(self, key: str) -> str:
        rng = self.rng
        base = re.sub(r"\d+$", "", key)
        role = key.split("_", 1)[-1]
        if base.startswith("name_"):
            value = self.names[role]
        elif base.startswith("call_"):
            value = vocative(rng, self.names[role])
        elif base.startswith("hon_"):
            value = honorific(rng, self.names[role])
        elif base.startswith("title_"):
            name = self.names[role]
            if name.endswith(_TITLES):
                value = name
            elif name.startswith("发言人") or name[0] in "小老":
                value = "领导"
            else:
                value = name[0] + rng.choice(("总", "经理", "主任"))
        elif base in self.extra:
            value = rng.choice(self.extra[base])
        elif base in SLOT_POOLS:
            value = rng.choice(SLOT_POOLS[base])
        elif base == "tiny":
            value = _money(rng, 5, 60, 1)
        elif base == "small":
            value = _money(rng, 100, 900, 50)
        elif base == "amount":
            value = _money(rng, 1000, 9000, 100)
        elif base == "big":
            value = _money(rng, 10000, 200000, 10000)
        elif base == "code":
            value = str(rng.randrange(100000, 1000000))
        elif base == "order":
            value = str(rng.randrange(10**11, 10**12))
        elif base == "phone_tail":
            value = str(rng.randrange(1000, 10000))
        elif base == "count":
            value = rng.choice("两三四五六")
        else:
            raise KeyError(f"demo template uses unknown slot {{{key}}}")
        self[key] = value
        return value


def fill(text: str, slots: SlotValues) -> str:
    # A second pass expands slots inside slot values (a quoted scam line keeps its {amount}).
    text = text.format_map(slots)
    return text.format_map(slots) if "{" in text else text


# ---------------------------------------------------------------- shared turns (both classes)
# Back-channel turns that pad a dialogue to its drawn length; shared so padding says nothing.
# MID_FILLERS go between two turns of the same speaker, ACK_FILLERS come before the listener's
# own reply, END_FILLERS close a dialogue.
MID_FILLERS = (
    "嗯，你说。", "好的，我在听。", "哦，这样啊。", "你继续说吧。", "嗯嗯，然后呢？",
    "等一下，我刚才没听清，你再说一遍。", "行，我记一下。", "我这边信号不太好，你慢点说。", "好，你接着讲。",
)
ACK_FILLERS = ("嗯，明白了。", "哦，这样啊。", "嗯嗯。", "嗯。", "哦。")
END_FILLERS = ("嗯，知道了。", "好，明白了。", "行。", "嗯嗯。", "好的，我记下了。")

# Generic reactions of the target; `{ask}` is the script's request ("交这笔保证金").
FRAUD_ENDINGS = (
    Ending("comply", (
        beat(VICTIM, "好吧，那我现在就{ask}。", "行，我信你一次，马上{ask}。",
             "那我先{ask}，你那边一定要尽快处理啊。", "好的，谢谢你，我这就去{ask}，弄好了跟你说。"),
        beat(SCAMMER, "好的，操作完截图发我，有事随时找我。", "放心，按流程走很快就好，别挂电话。",
             "收到以后我第一时间给你办，别跟其他人说，免得耽误进度。", opt=True,
             each=("", "要求对方保持通话", "要求对方不要告诉别人")),
    )),
    Ending("hesitate", (
        beat(VICTIM, "要{ask}？我想想吧，我得先问问家里人。", "这个……{ask}我有点不放心，我看看再说吧，可以吗？",
             "我手头没那么多钱，也想先跟家里商量一下，要不等两天再说吧。", "你说的我有点听不懂，{ask}真的没问题吗？", "我这会儿在忙，回头再说吧。"),
        beat(SCAMMER, "时间不等人，过了今天就来不及了。", "别犹豫了，有人昨天刚操作完，都到账了，绝对安全。",
             "这件事不要跟别人讲，他们不了解情况只会耽误你。", "你再拖下去损失你自己承担，我也帮不了你。", opt=True,
             each=("制造紧迫感", "用所谓别人的成功案例打消疑虑", "要求对方不要告诉别人", "以损失自负向对方施压")),
        beat(VICTIM, "那你等我一下，我凑一凑钱。", "好吧，我再想想，看看一会儿能不能凑到。", opt=True),
    )),
    Ending("refuse", (
        beat(VICTIM, "正规的机构不会让人{ask}，你这是诈骗吧，我要报警了。",
             "我已经打官方电话核实过了，根本没有这回事。", "我不会{ask}的，有什么事我自己去官方App上查。",
             "我朋友提醒过我，有人就是这么被骗的，你别再打过来了。", "谢谢，不需要，我有事先挂了。", "任何让我先转钱的我都不信，你别说了。"),
        beat(SCAMMER, "你不配合，后果自负！", "那算了，机会留给别人吧，以后别后悔。",
             "你这样会影响你的征信，到时候别怪我没提醒你。", opt=True,
             each=("在对方拒绝后出言恐吓", "", "以征信受损相威胁")),
    )),
)

# Neutral closings that fit any ordinary script; scripts that end on a decision add their own.
ORDINARY_ENDINGS = (
    Ending("close", (
        beat("B", "你放心，这个我记下了。", "好吧，那就先这样吧。", "行，回头再聊。", "没问题，有事再联系。", "好嘞，谢谢你啊。",
             "那先这样，我去忙了。", "嗯，知道了，谢谢你跟我说。", "这个我再想想吧，回头再说。", "我手头的事还没忙完，晚点再说吧。",
             opt=True),
        beat("A", "好，有事随时找我。", "行，你先忙吧。", "嗯，回头聊。", opt=True),
    )),
)
