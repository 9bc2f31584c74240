#include "LmvFrameWriter.h"

#include "Async/Async.h"
#include "HAL/FileManager.h"
#include "IImageWrapper.h"
#include "IImageWrapperModule.h"
#include "LmvCapture.h"
#include "LmvCaptureSchema.h"
#include "Misc/FileHelper.h"
#include "Misc/Paths.h"
#include "Modules/ModuleManager.h"
#include "Runtime/Launch/Resources/Version.h"

FLmvFrameWriter::FLmvFrameWriter(const FString& InBasePath, bool bInCompress, int32 InMaxFramesInFlight)
	: BasePath(InBasePath)
	, bCompress(bInCompress)
	, MaxFramesInFlight(FMath::Max(1, InMaxFramesInFlight))
{
	// Game thread: loading a module is not thread-safe, looking it up from the writer tasks would not be either.
	ImageWrapper = &FModuleManager::LoadModuleChecked<IImageWrapperModule>(TEXT("ImageWrapper"));
}

FLmvFrameWriter::~FLmvFrameWriter()
{
	Flush();
}

void FLmvFrameWriter::Submit(const FLmvFramePtr& Frame)
{
	if (!Frame.IsValid())
	{
		return;
	}
	BuffersPerFrame = FMath::Max(1, Frame->Buffers.Num());
	IImageWrapperModule* Module = ImageWrapper;
	const bool bZip = bCompress;
	for (int32 Index = 0; Index < Frame->Buffers.Num(); ++Index)
	{
		const FString Path = FramePath(BasePath, Frame->Buffers[Index].Folder, Frame->ExportIndex);
		// Each task owns a reference to the frame and touches only its own buffer element; the Buffers array
		// itself is never resized after the read-back, so concurrent tasks do not race.
		Pending.Add(Async(EAsyncExecution::ThreadPool, [Frame, Index, Path, Module, bZip]() -> FString
		{
			FString Error;
			FLmvBufferPixels& Buffer = Frame->Buffers[Index];
			WriteExr(*Module, Path, Buffer.Pixels, Frame->Size, bZip, Error);
			Buffer.Pixels.Empty();
			return Error;
		}));
	}
	Collect(MaxFramesInFlight * BuffersPerFrame);
}

int32 FLmvFrameWriter::Flush()
{
	Collect(0);
	return Errors.Num();
}

void FLmvFrameWriter::Collect(int32 MaxPending)
{
	auto Take = [this](int32 Index)
	{
		const FString Error = Pending[Index].Get();  // waits when the write is not finished
		if (Error.IsEmpty())
		{
			++FilesWritten;
		}
		else
		{
			UE_LOG(LogLmvCapture, Error, TEXT("%s"), *Error);
			Errors.Add(Error);
		}
		Pending.RemoveAt(Index);
	};
	for (int32 Index = Pending.Num() - 1; Index >= 0; --Index)
	{
		if (Pending[Index].IsReady())
		{
			Take(Index);
		}
	}
	while (Pending.Num() > MaxPending)
	{
		Take(0);
	}
}

FString FLmvFrameWriter::FramePath(const FString& InBasePath, const FString& Folder, int32 ExportIndex)
{
	const FString Name = FString(LmvCaptureSchema::FramePrefix) + FString::FromInt(ExportIndex) + LmvCaptureSchema::FrameSuffix;
	return FPaths::Combine(InBasePath, Folder, Name);
}

bool FLmvFrameWriter::WriteExr(IImageWrapperModule& Module, const FString& Path, const TArray<FLinearColor>& Pixels,
	FIntPoint Size, bool bZip, FString& OutError)
{
	const int64 Expected = int64(Size.X) * int64(Size.Y);
	if (Size.X <= 0 || Size.Y <= 0 || Pixels.Num() != Expected)
	{
		OutError = FString::Printf(TEXT("%s: read back %d pixels, expected %d x %d"), *Path, Pixels.Num(), Size.X, Size.Y);
		return false;
	}
	TSharedPtr<IImageWrapper> Wrapper = Module.CreateImageWrapper(EImageFormat::EXR);
	// FLinearColor is four floats in R, G, B, A order; with 32 bits per channel the EXR writer stores FLOAT
	// channels R, G, B, A without conversion. UE 4.27 describes float RGBA as ERGBFormat::RGBA at 32 bits;
	// UE 5 reserves RGBA for integer data and names float data ERGBFormat::RGBAF.
#if ENGINE_MAJOR_VERSION >= 5
	const ERGBFormat FloatRGBA = ERGBFormat::RGBAF;
#else
	const ERGBFormat FloatRGBA = ERGBFormat::RGBA;
#endif
	if (!Wrapper.IsValid() || !Wrapper->SetRaw(Pixels.GetData(), Expected * int64(sizeof(FLinearColor)), Size.X, Size.Y,
		FloatRGBA, 32))
	{
		OutError = FString::Printf(TEXT("%s: the EXR image wrapper refused %d x %d float RGBA pixels"), *Path, Size.X, Size.Y);
		return false;
	}
	// Default quality = ZIP (lossless); Uncompressed = NO_COMPRESSION. Never a lossy codec: G-buffers must stay exact.
	const int32 Quality = int32(bZip ? EImageCompressionQuality::Default : EImageCompressionQuality::Uncompressed);
	const TArray64<uint8>& Encoded = Wrapper->GetCompressed(Quality);
	if (Encoded.Num() == 0)
	{
		OutError = FString::Printf(TEXT("%s: EXR encoding produced no data"), *Path);
		return false;
	}
	const FString Temporary = Path + TEXT(".tmp");
	IFileManager& Files = IFileManager::Get();
	if (!FFileHelper::SaveArrayToFile(Encoded, *Temporary))
	{
		OutError = FString::Printf(TEXT("%s: cannot write %lld bytes (disk full or no permission?)"), *Temporary, Encoded.Num());
		Files.Delete(*Temporary);
		return false;
	}
	if (!Files.Move(*Path, *Temporary, /*bReplace=*/true))
	{
		OutError = FString::Printf(TEXT("%s: cannot rename %s to it"), *Path, *Temporary);
		Files.Delete(*Temporary);
		return false;
	}
	return true;
}

bool FLmvFrameWriter::WriteTextFile(const FString& Path, const FString& Text)
{
	const FString Temporary = Path + TEXT(".tmp");
	if (!FFileHelper::SaveStringToFile(Text, *Temporary, FFileHelper::EEncodingOptions::ForceUTF8WithoutBOM))
	{
		return false;
	}
	return IFileManager::Get().Move(*Path, *Temporary, /*bReplace=*/true);
}
